/**
 * Scenario 9 (billing): `generateInvoices` for a whole month — 10,000 tenants and 1M ledger rows in
 * full mode (1,000 and 100,000 in quick mode) — its time and memory (RSS and heap sampled through
 * the run and after each batch), then the same month again (idempotent: nothing written).
 *
 * The month is October 2025 in Europe/Berlin (745 hours). Seeded through the raw drivers like
 * seed.ts: the tenants, three priced plans, every tenant on a plan from before the month, 10%
 * upgraded mid-month (a second assignment), 5% with a downgrade scheduled at the month's end, and
 * the ledger rows spread over the month and the tenants (2% refused, 2% errors). Afterwards the run
 * is checked against the ledger: the invoices' usage adds up to the month's counted rows.
 *
 * Memory: the heap after GC rises over the first batches and then stays flat. What rises is
 * Prisma's own debug module, which keeps the arguments of its last 100 debug calls (the batches'
 * statements and their bound values, `MAX_ARGS_HISTORY` in @prisma/debug) whether DEBUG is set or
 * not: bounded by the batch size, not by the tenants or rows. Then only the run's result grows
 * (one summary per tenant, ~1 KB).
 */
import Database from 'better-sqlite3'
import { createBilling, createPlans, defineLlmConfig } from '../../src/index.ts'
import { openDatabase, type DbKind, type TestDatabase } from '../../test/support/databases.ts'
import type { Mode } from '../scenarios.ts'
import type { Figure } from './stats.ts'

const MONTH = '2025-10'
const FROM = new Date('2025-09-30T22:00:00Z') // 1 October 00:00 CEST
const TO = new Date('2025-10-31T23:00:00Z') // 1 November 00:00 CET
const BEFORE = new Date('2025-09-15T00:00:00Z')
const UPGRADE = new Date('2025-10-16T10:30:00Z')
const config = defineLlmConfig({ timeZone: 'Europe/Berlin', now: () => new Date('2025-11-03T06:00:00Z') })

export interface BillingSeed {
  tenants: number
  rows: number
}

const iso = (d: Date) => d.toISOString().replace('Z', '+00:00')

/** Plans through the API; tenants, assignments and ledger rows through the raw drivers. */
export async function seedBillingMonth(db: TestDatabase, spec: BillingSeed): Promise<void> {
  const plans = createPlans(db.client, config)
  await plans.definePlan({ key: 'starter', name: 'Starter', prices: { baseFee: '19.00', includedTokens: 20_000, overagePer1kTokens: '0.004' } })
  await plans.definePlan({
    key: 'pro',
    name: 'Pro',
    prices: { baseFee: '99.00', includedTokens: 100_000, overagePer1kTokens: '0.002', includedCost: '10', costMarkup: '15' },
  })
  await plans.definePlan({ key: 'scale', name: 'Scale', prices: { baseFee: '499.00', includedCost: '100', costMarkup: '10' } })
  const ids = Object.fromEntries(((await db.client.llmPlan.findMany({})) as Array<{ id: string; key: string }>).map((p) => [p.key, p.id]))
  const span = TO.getTime() - FROM.getTime()
  if (db.kind === 'postgresql') {
    await db.rawQuery(`SET search_path TO "${db.location}"`)
    await db.rawQuery(
      `INSERT INTO llm_tenants (id, tenant_id, created_at, updated_at) SELECT 't' || g, 'tenant-' || g, now(), now() FROM generate_series(0, $1::int - 1) g`,
      [spec.tenants],
    )
    // Everyone from before the month: tenant g on starter (g % 3 = 0), pro (1) or scale (2); the
    // upgraded tenth (g % 10 = 1) ends at the upgrade and goes to scale; the 5% (g % 20 = 2) end at
    // the month's end, scheduled onto starter from then.
    await db.rawQuery(
      `INSERT INTO llm_tenant_plans (id, tenant_id, plan_id, plan_key, plan_version, effective_from, effective_to, created_at)
       SELECT 'a' || g, 'tenant-' || g, (ARRAY[$2, $3, $4])[1 + g % 3], (ARRAY['starter','pro','scale'])[1 + g % 3], 1, $5::timestamp,
              CASE WHEN g % 10 = 1 THEN $6::timestamp WHEN g % 20 = 2 THEN $7::timestamp END, now()
         FROM generate_series(0, $1::int - 1) g;`,
      [spec.tenants, ids.starter, ids.pro, ids.scale, iso(BEFORE), iso(UPGRADE), iso(TO)],
    )
    await db.rawQuery(
      `INSERT INTO llm_tenant_plans (id, tenant_id, plan_id, plan_key, plan_version, effective_from, effective_to, created_at)
       SELECT 'b' || g, 'tenant-' || g, CASE WHEN g % 10 = 1 THEN $2 ELSE $3 END, CASE WHEN g % 10 = 1 THEN 'scale' ELSE 'starter' END, 1,
              CASE WHEN g % 10 = 1 THEN $4::timestamp ELSE $5::timestamp END, NULL, now()
         FROM generate_series(0, $1::int - 1) g WHERE g % 10 = 1 OR g % 20 = 2`,
      [spec.tenants, ids.scale, ids.starter, iso(UPGRADE), iso(TO)],
    )
    await db.rawQuery(
      `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
         input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at)
       SELECT 'bill-' || g, 'tenant-' || (g % $2), 'Support', 'openai', 'gpt-4o-mini',
         CASE WHEN g % 50 = 0 THEN 'refused' WHEN g % 50 = 1 THEN 'error' ELSE 'success' END,
         CASE WHEN g % 50 = 0 THEN 0 ELSE 200 + g % 900 END, CASE WHEN g % 50 = 0 THEN 0 ELSE 100 + g % 300 END,
         CASE WHEN g % 50 = 0 THEN 0 ELSE 300 + g % 900 + g % 300 END,
         CASE WHEN g % 50 = 0 THEN 0 ELSE (g % 9000) * 150 END, CASE WHEN g % 50 = 0 THEN 0 ELSE (g % 7000) * 600 END,
         CASE WHEN g % 50 = 0 THEN 0 ELSE (g % 9000) * 150 + (g % 7000) * 600 END, 500, ts, ts, ts
       FROM (SELECT g, $3::timestamp + ((g::bigint * $4) / $1) * INTERVAL '1 millisecond' AS ts FROM generate_series(0, $1::int - 1) g) s`,
      [spec.rows, spec.tenants, iso(FROM), span],
    )
    await db.rawQuery('ANALYZE')
    return
  }
  const raw = new Database(db.location)
  raw.pragma('journal_mode = WAL')
  const now = iso(new Date())
  const tenant = raw.prepare(`INSERT INTO llm_tenants (id, tenant_id, created_at, updated_at) VALUES (?, ?, ?, ?)`)
  const assign = raw.prepare(
    `INSERT INTO llm_tenant_plans (id, tenant_id, plan_id, plan_key, plan_version, effective_from, effective_to, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)`,
  )
  const row = raw.prepare(
    `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
       input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at)
     VALUES (?, ?, 'Support', 'openai', 'gpt-4o-mini', ?, ?, ?, ?, ?, ?, ?, 500, ?, ?, ?)`,
  )
  const keys = ['starter', 'pro', 'scale']
  raw.transaction(() => {
    for (let g = 0; g < spec.tenants; g++) {
      const t = `tenant-${g}`
      tenant.run(`t${g}`, t, now, now)
      const key = keys[g % 3]
      const end = g % 10 === 1 ? iso(UPGRADE) : g % 20 === 2 ? iso(TO) : null
      assign.run(`a${g}`, t, ids[key], key, iso(BEFORE), end, now)
      if (g % 10 === 1) assign.run(`b${g}`, t, ids.scale, 'scale', iso(UPGRADE), null, now)
      else if (g % 20 === 2) assign.run(`b${g}`, t, ids.starter, 'starter', iso(TO), null, now)
    }
    for (let g = 0; g < spec.rows; g++) {
      const refused = g % 50 === 0
      const ts = iso(new Date(FROM.getTime() + Math.floor((g * span) / spec.rows)))
      const input = refused ? 0 : 200 + (g % 900)
      const output = refused ? 0 : 100 + (g % 300)
      const inCost = refused ? 0 : (g % 9000) * 150
      const outCost = refused ? 0 : (g % 7000) * 600
      row.run(
        `bill-${g}`,
        `tenant-${g % spec.tenants}`,
        refused ? 'refused' : g % 50 === 1 ? 'error' : 'success',
        input,
        output,
        input + output,
        inCost,
        outCost,
        inCost + outCost,
        ts,
        ts,
        ts,
      )
    }
  })()
  raw.exec('ANALYZE')
  raw.close()
}

const mb = (bytes: number) => bytes / 2 ** 20

/** Scenario 9: one month's invoicing run, then the same run again. */
export async function invoicing(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const spec: BillingSeed = mode.quick ? { tenants: 1_000, rows: 100_000 } : { tenants: 10_000, rows: 1_000_000 }
  const db = await openDatabase(kind)
  try {
    const seedStart = performance.now()
    await seedBillingMonth(db, spec)
    const seedMs = performance.now() - seedStart
    const billing = createBilling(db.client, config)
    const gc = (globalThis as { gc?: () => void }).gc
    if (!gc) throw new Error('run with --expose-gc (npx tsx --expose-gc …)')
    // Memory after a full GC, before the run and after each batch: flat = it does not grow with the
    // tenants done (each batch's rows, computations and statements are garbage once it is written).
    // The GC pauses are timed and left out of the run's time.
    const sample = () => {
      gc()
      const m = process.memoryUsage()
      return { rss: mb(m.rss), heap: mb(m.heapUsed) }
    }
    const base = sample()
    const maxRssBefore = process.resourceUsage().maxRSS / 1024
    const samples: Array<{ rss: number; heap: number }> = []
    let paused = 0
    const t0 = performance.now()
    let first: Awaited<ReturnType<typeof billing.generateInvoices>> | null = await billing.generateInvoices(
      {
        period: { month: MONTH },
        onProgress: () => {
          const t = performance.now()
          samples.push(sample())
          paused += performance.now() - t
        },
      },
      { actor: { type: 'job', id: 'bench' } },
    )
    const firstMs = performance.now() - t0 - paused
    const maxRssDuring = process.resourceUsage().maxRSS / 1024
    const created = first.created
    first = null // the result (a summary per tenant) is the caller's to keep
    const after = sample()
    const t1 = performance.now()
    const second = await billing.generateInvoices({ period: { month: MONTH } })
    const secondMs = performance.now() - t1
    if (created !== spec.tenants || second.unchanged !== spec.tenants) throw new Error(`unexpected runs: ${created} created, ${second.unchanged} unchanged`)
    // The invoices agree with the ledger: their usage adds up to the month's counted rows.
    const cast = kind === 'postgresql' ? '::text' : ''
    const [ledger] = await db.rawQuery<{ tokens: unknown; nanos: unknown }>(
      `SELECT SUM(total_tokens)${cast} AS tokens, SUM(total_cost_nanos)${cast} AS nanos FROM llm_executions WHERE status NOT IN ('refused', 'running')`,
    )
    const [invoiced] = await db.rawQuery<{ tokens: unknown; nanos: unknown; n: unknown; lines: unknown }>(
      `SELECT SUM(usage_tokens)${cast} AS tokens, SUM(usage_cost_nanos)${cast} AS nanos, COUNT(*)${cast} AS n, (SELECT COUNT(*) FROM llm_invoice_lines)${cast} AS lines FROM llm_invoices`,
    )
    if (String(ledger.tokens) !== String(invoiced.tokens) || String(ledger.nanos) !== String(invoiced.nanos)) {
      throw new Error(`invoices disagree with the ledger: ${JSON.stringify({ ledger, invoiced })}`)
    }
    const scenario = '12 billing'
    const size = `${spec.tenants.toLocaleString('en-US')} tenants, ${spec.rows.toLocaleString('en-US')} rows`
    const note = `${Number(invoiced.lines).toLocaleString('en-US')} lines; seed ${(seedMs / 1000).toFixed(1)} s`
    const [firstBatch, lastBatch] = [samples[0], samples[samples.length - 1]]
    const heaps = samples.map((x) => x.heap)
    return [
      { scenario, db: kind, metric: `generateInvoices, first run (${size})`, unit: 'ms', runs: [firstMs], note },
      { scenario, db: kind, metric: `generateInvoices, again: nothing written (${size})`, unit: 'ms', runs: [secondMs] },
      {
        scenario,
        db: kind,
        metric: 'heap after GC, after the first batch → after the last',
        unit: 'MB',
        runs: [lastBatch.heap - firstBatch.heap],
        note: `before ${base.heap.toFixed(0)}; after each of ${samples.length} batches: ${heaps.map((h) => h.toFixed(0)).join(' ')}; after, result dropped: ${after.heap.toFixed(0)} MB`,
      },
      {
        scenario,
        db: kind,
        metric: 'RSS after GC, after the first batch → after the last',
        unit: 'MB',
        runs: [lastBatch.rss - firstBatch.rss],
        note: `before ${base.rss.toFixed(0)}; ${firstBatch.rss.toFixed(0)} → ${lastBatch.rss.toFixed(0)} MB; peak RSS of the process ${maxRssBefore.toFixed(0)} → ${maxRssDuring.toFixed(0)} MB`,
      },
    ]
  } finally {
    await db.close()
  }
}
