/**
 * Scenario 14: the dashboard's pages on PostgreSQL with 1,000,000 executions over 10,000 tenants
 * (60 days; 2% errors, 1% timeouts, 2% refusals, 5% without a tenant), seeded in bulk SQL
 * (`INSERT … SELECT generate_series`) with the matching tenant counter rows (per day and month,
 * as admission keeps them), then VACUUM ANALYZE (autovacuum is off). Each page is requested
 * through the handler itself (a Fetch Request, no network) — once cold (the overview's first
 * request stores the day rollup), then (after 3 warm-up requests) `mode.repeats × 6` times: the median is the page's server
 * time. Every SQL statement a page ran is captured from Prisma's query events and EXPLAINed
 * (ANALYZE) with its parameters: the printed plans show which index each statement uses.
 * Goal: every page ≤ 100 ms. `seedDashboardLedger` also works at a smaller size.
 */
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { createLlmDashboard } from '../../src/dashboard/index.ts'
import { preparedStatementName } from '../../src/index.ts'
import { openDatabase, POSTGRES_URL, type TestDatabase } from '../../test/support/databases.ts'
import type { Mode } from '../scenarios.ts'
import { percentile, type Figure } from './stats.ts'

const SCENARIO = '14 dashboard'

export async function seedDashboardLedger(db: TestDatabase, spec: { rows: number; tenants: number; days: number; now: Date }): Promise<void> {
  const q = (sql: string, params: unknown[] = []) => db.rawQuery(sql, params)
  await q(`SET search_path TO "${db.location}"`)
  await q(
    `INSERT INTO llm_tenants (id, tenant_id, name, enforcement, daily_cost_limit_nanos, monthly_cost_limit_nanos, created_at, updated_at)
     SELECT 'row-' || g, 'tenant-' || g, 'Tenant ' || g, CASE WHEN g % 3 = 0 THEN 'hard' ELSE 'soft' END,
       CASE WHEN g % 2 = 0 THEN 5000000000 END, 100000000000, now(), now() FROM generate_series(0, $1::int - 1) g`,
    [spec.tenants],
  )
  await q(
    `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
       input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at, error_class)
     SELECT 'seed-' || g, CASE WHEN g % 20 = 0 THEN NULL ELSE 'tenant-' || (g % $2) END,
       (ARRAY['Support','Search','Summarizer','Translator'])[1 + g % 4], 'openai', (ARRAY['gpt-4o','gpt-4o-mini','claude-sonnet-4-5'])[1 + g % 3],
       st, CASE WHEN st = 'refused' THEN 0 ELSE 100 + g % 900 END, CASE WHEN st = 'refused' THEN 0 ELSE 50 + g % 300 END,
       CASE WHEN st = 'refused' THEN 0 ELSE 150 + g % 900 + g % 300 END,
       CASE WHEN st = 'refused' THEN 0 ELSE (g % 9000) * 15 END, CASE WHEN st = 'refused' THEN 0 ELSE (g % 7000) * 60 END,
       CASE WHEN st = 'refused' THEN 0 ELSE (g % 9000) * 15 + (g % 7000) * 60 END, 500, ts, ts, ts,
       CASE WHEN st IN ('error', 'timeout') THEN 'ProviderError' END
     FROM (SELECT g, $3::timestamp - ((g::bigint * $4) / $1) * INTERVAL '1 second' AS ts,
             CASE WHEN g % 50 = 1 THEN 'error' WHEN g % 100 = 7 THEN 'timeout' WHEN g % 50 = 3 THEN 'refused' ELSE 'success' END AS st
           FROM generate_series(1, $1::int) g) s`,
    [spec.rows, spec.tenants, spec.now.toISOString().replace('Z', ''), spec.days * 86_400],
  )
  // A rare model: three rows, 5, 30 and 55 days old, for filters that the rollup narrows to a few days.
  await q(
    `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
       input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at)
     SELECT 'rare-' || d, 'tenant-7', 'Support', 'openai', 'rare-model', 'success', 10, 5, 15, 1000, 2000, 3000, 500, ts, ts, ts
       FROM (SELECT d, $1::timestamp - d * INTERVAL '1 day' AS ts FROM unnest(ARRAY[5, 30, 55]) d) r`,
    [spec.now.toISOString().replace('Z', '')],
  )
  // The tenant counters admission keeps (UTC buckets here): spent = settled rows, per day and month.
  for (const [period, fmt] of [
    ['day', 'YYYY-MM-DD'],
    ['month', 'YYYY-MM'],
  ] as const) {
    await q(
      `INSERT INTO llm_budget_counters (scope, tenant_id, agent_type, period, bucket, spent_cost_nanos, spent_tokens, spent_executions, updated_at)
       SELECT 'tenant', tenant_id, '', $1, to_char(started_at, '${fmt}'), SUM(total_cost_nanos), SUM(total_tokens), COUNT(*), now()
         FROM llm_executions WHERE tenant_id IS NOT NULL AND status NOT IN ('running', 'refused') GROUP BY tenant_id, to_char(started_at, '${fmt}')`,
      [period],
    )
  }
  await q('VACUUM ANALYZE')
}

interface Captured {
  query: string
  params: string
}

export async function dashboardScenario(mode: Mode): Promise<Figure[]> {
  const rows = mode.quick ? 100_000 : 1_000_000
  const tenants = mode.quick ? 1_000 : 10_000
  const db = await openDatabase('postgresql')
  const captured: Captured[] = []
  let capturing = false
  const client = new PostgresClient({
    adapter: new PrismaPg(
      { connectionString: POSTGRES_URL, options: `-c search_path="${db.location}"`, max: 10 },
      { schema: db.location, statementNameGenerator: preparedStatementName },
    ),
    log: [{ emit: 'event', level: 'query' }],
  })
  client.$on('query', (e: { query: string; params: string }) => capturing && captured.push({ query: e.query, params: e.params }))
  const admin = new pg.Client({ connectionString: POSTGRES_URL })
  const figures: Figure[] = []
  try {
    const now = new Date()
    const t0 = Date.now()
    await seedDashboardLedger(db, { rows, tenants, days: 60, now })
    console.log(`[14] seeded ${rows} executions over ${tenants} tenants in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    await admin.connect()
    await admin.query(`SET search_path TO "${db.location}"`)
    const dashboard = createLlmDashboard(client, {
      secret: 'a-bench-secret-of-at-least-32-characters',
      auth: () => ({ role: 'operator', actor: { type: 'user', id: 'bench' } }),
      config: { timeZone: 'UTC' },
    })
    const [busiest] = (await admin.query(`SELECT id FROM llm_executions WHERE trace_id IS NULL ORDER BY started_at DESC LIMIT 1`)).rows as Array<{ id: string }>
    const pages: Array<[string, string]> = [
      ['overview', '/'],
      ['tenants (by spend)', '/tenants'],
      ['tenants (search, by name)', '/tenants?q=tenant-99&sort=name'],
      ['tenant detail', '/tenants/tenant-42'],
      ['executions', '/executions'],
      ['executions (agent + status)', '/executions?agent=Search&status=error'],
      ['executions (agent + status, all time)', '/executions?agent=Search&status=error&period=all'],
      ['executions (rare model)', '/executions?model=rare-model'],
      ['executions (rare model, all time)', '/executions?model=rare-model&period=all'],
      ['executions (tenant)', '/executions?tenant=tenant-42'],
      ['execution detail', `/executions/${busiest.id}`],
    ]
    const request = (path: string) => dashboard(new Request(`http://bench.local${path}`))
    const cold = Date.now()
    const first = await request('/')
    if (first.status !== 200) throw new Error(`overview answered ${first.status}: ${await first.text()}`)
    figures.push({
      scenario: SCENARIO,
      db: 'postgresql',
      metric: `overview, first request (stores the day rollup), ${rows} rows`,
      unit: 'ms',
      runs: [Date.now() - cold],
    })
    for (const [name, path] of pages) {
      const times: number[] = []
      for (let i = 0; i < 3; i++) await (await request(path)).text() // warm: caches and plans of this page
      for (let i = 0; i < mode.repeats * 6; i++) {
        const started = performance.now()
        const res = await request(path)
        await res.text()
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`)
        times.push(performance.now() - started)
      }
      figures.push({
        scenario: SCENARIO,
        db: 'postgresql',
        metric: `page ${name}, ${rows} rows / ${tenants} tenants`,
        unit: 'ms',
        runs: [percentile(times, 50)],
        note: 'goal ≤ 100 ms',
      })
      captured.length = 0
      capturing = true
      await (await request(path)).text()
      capturing = false
      console.log(`\n[14] ${name} (${path}): median ${percentile(times, 50).toFixed(1)} ms, ${captured.length} statements`)
      for (const c of captured) await explain(admin, c)
    }
  } finally {
    await admin.end().catch(() => undefined)
    await client.$disconnect()
    await db.close()
  }
  return figures
}

/** Prints one statement and the plan PostgreSQL ran it with (its index scans). */
async function explain(admin: pg.Client, c: Captured): Promise<void> {
  if (!/^\s*SELECT/i.test(c.query)) return
  const params = (JSON.parse(c.params) as unknown[]).map((p) =>
    typeof p === 'object' && p !== null && 'prisma__value' in p ? (p as { prisma__value: unknown }).prisma__value : p,
  )
  try {
    const plan = (await admin.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${c.query}`, params)).rows.map((r) => r['QUERY PLAN'] as string)
    const nodes = plan.filter((l) => /Scan|Execution Time|Sort|Aggregate/.test(l)).map((l) => l.trim())
    console.log(`  · ${c.query.replace(/\s+/g, ' ').slice(0, 160)}`)
    for (const n of nodes) console.log(`      ${n}`)
  } catch (err) {
    console.log(`  · (not explained: ${(err as Error).message.slice(0, 80)}) ${c.query.replace(/\s+/g, ' ').slice(0, 120)}`)
  }
}
