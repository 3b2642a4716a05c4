/**
 * The benchmark scenarios (see bench/README.md). Each returns figures; run.ts prints and records.
 * Scenario 8 (plans and rate limits) is in lib/rate-limits.ts, on this file's per-call helpers.
 */
import { BudgetExceededError, LlmBudgets, TenantStore, createLedger } from '../src/index.ts'
import { SdkClientCache } from '../src/providers/clients.ts'
import { openDatabase, POSTGRES_URL, type DbKind, type TestDatabase } from '../test/support/databases.ts'
import { checkThenRecord, Refused, sumPerCheck, type BaselineCall } from './lib/baselines.ts'
import { plainPgClient, plainSqliteClient, rawPgClient } from './lib/raw-client.ts'
import { sqliteReplayFloor } from './lib/replay-floor.ts'
import { execFileSync, execSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { seedLedger } from './lib/seed.ts'
import { percentile, timeCalls, type Figure } from './lib/stats.ts'

export interface Mode {
  quick: boolean
  repeats: number
  calls: number
}

const NOW = () => new Date()
export const usage = async (c: { reportUsage(u: object): void }) =>
  c.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: '0.00001', outputCost: '0.00002' })
export const call = { agentType: 'Bench', model: 'm', estimate: { cost: '0.0001', tokens: 100 } }

/**
 * One tracked call per iteration, rotating over 8 seeded tenants (each with its share of the seeded
 * ledger), with a tenant limit and a global budget in force — the realistic "tenant + global" setup.
 */
export const PER_CALL_CONFIG = { budgets: { globalMonthly: 1_000_000, enforcement: 'hard' as const } }
export async function trackedLatencies(budgets: LlmBudgets, n: number, tenant = (i: number) => `tenant-${i % 8}`): Promise<number[]> {
  for (let i = 0; i < 40; i++) await budgets.track(tenant(i), call, usage)
  return timeCalls(n, (i) => budgets.track(tenant(i), call, usage))
}

/** The baselines check the same tenants and the global month (SUM-per-check aggregates all tenants). */
function baselineCall(i: number, limitNanos = 10n ** 15n): BaselineCall & { global: boolean } {
  return { tenantId: `tenant-${i % 8}`, limitNanos, costNanos: 30_000n, now: NOW(), provider: async () => undefined, global: true }
}

/** Scenarios 1–4: per-call overhead on an empty-ish and a large ledger, baselines, raw floor. */
export async function perCall(kind: DbKind, mode: Mode, ledgerSizes: number[]): Promise<Figure[]> {
  const figures: Figure[] = []
  const p50 = new Map<string, number[]>()
  const add = (key: string, v: number) => p50.set(key, [...(p50.get(key) ?? []), v])
  for (const size of ledgerSizes) {
    const db = await openDatabase(kind)
    try {
      if (size > 0) await seedLedger(db, { rows: size, tenants: 1000, days: 60, now: NOW() })
      const budgets = new LlmBudgets(db.client, PER_CALL_CONFIG)
      if (size > 0) await budgets.refreshCounters()
      // The floor: on PostgreSQL the unchanged pipeline on raw `pg`; on SQLite, where the fast path
      // already runs on better-sqlite3, the recorded statements of our calls replayed with no library code.
      const floorClient = kind === 'postgresql' ? rawPgClient(POSTGRES_URL!, db.location) : null
      const floor = floorClient ? new LlmBudgets(floorClient, PER_CALL_CONFIG) : null
      // "Ours" is the recommended setup (sqliteFastPath + WAL / pgFastPath); the same database through Prisma alone is reported beside it.
      const prismaOnly = kind === 'sqlite' ? plainSqliteClient(db.location) : plainPgClient(POSTGRES_URL!, db.location)
      if (kind === 'sqlite') await prismaOnly.$queryRawUnsafe('PRAGMA journal_mode = WAL')
      // Start every size from a quiet disk: the seed (and the previous size's, or the SQLite phase's
      // 1M-row file) leaves dirty pages whose writeback would slow PostgreSQL's commit flushes.
      if (kind === 'postgresql') {
        await db.rawQuery('ANALYZE')
        await db.rawQuery('CHECKPOINT')
      }
      try {
        execSync('sync')
      } catch {
        /* not on this platform */
      }
      for (let r = 0; r < mode.repeats; r++) {
        const ours = await trackedLatencies(budgets, mode.calls)
        add(`ours p50 ${size}`, percentile(ours, 50) * 1000)
        add(`ours p99 ${size}`, percentile(ours, 99) * 1000)
        add(`prisma p50 ${size}`, percentile(await trackedLatencies(new LlmBudgets(prismaOnly, PER_CALL_CONFIG), mode.calls), 50) * 1000)
        const raw = floor
          ? await trackedLatencies(floor, mode.calls)
          : await sqliteReplayFloor(db.client, db.location, mode.calls, (i) => budgets.track(`tenant-${i % 8}`, call, usage))
        add(`floor p50 ${size}`, percentile(raw, 50) * 1000)
        // SUM-per-check gets slower with every row (that is the point); 100 calls per repeat keep the run short.
        const sum = await timeCalls(Math.min(mode.calls, 100), (i) => sumPerCheck(db.client, baselineCall(i)))
        add(`sum p50 ${size}`, percentile(sum, 50) * 1000)
        const ctr = await timeCalls(mode.calls, (i) => checkThenRecord(db.client, baselineCall(i)))
        add(`ctr p50 ${size}`, percentile(ctr, 50) * 1000)
      }
      await floorClient?.close()
      await prismaOnly.$disconnect()
    } finally {
      await db.close()
    }
    const ratio = (a: string, b: string) => p50.get(a)!.map((v, i) => v / p50.get(b)![i])
    const label = `${size.toLocaleString('en-US')} rows`
    figures.push(
      { scenario: '1–2 per-call overhead', db: kind, metric: `p50, ledger ${label}`, unit: 'µs', runs: p50.get(`ours p50 ${size}`)! },
      { scenario: '1–2 per-call overhead', db: kind, metric: `p99, ledger ${label}`, unit: 'µs', runs: p50.get(`ours p99 ${size}`)! },
      {
        scenario: '1–2 per-call overhead',
        db: kind,
        metric: `p50 without ${kind === 'sqlite' ? 'sqliteFastPath' : 'pgFastPath'} (all through Prisma), ${label}`,
        unit: 'µs',
        runs: p50.get(`prisma p50 ${size}`)!,
      },
      { scenario: '3 baselines', db: kind, metric: `SUM-per-check p50, ${label}`, unit: 'µs', runs: p50.get(`sum p50 ${size}`)! },
      { scenario: '3 baselines', db: kind, metric: `check-then-record p50, ${label}`, unit: 'µs', runs: p50.get(`ctr p50 ${size}`)! },
      { scenario: '3 baselines', db: kind, metric: `ours ÷ SUM-per-check, ${label}`, unit: '×', runs: ratio(`ours p50 ${size}`, `sum p50 ${size}`) },
      { scenario: '3 baselines', db: kind, metric: `ours ÷ check-then-record, ${label}`, unit: '×', runs: ratio(`ours p50 ${size}`, `ctr p50 ${size}`) },
      {
        scenario: '4 raw floor',
        db: kind,
        metric: `same SQL via ${kind === 'sqlite' ? 'better-sqlite3' : 'pg'} p50, ${label}`,
        unit: 'µs',
        runs: p50.get(`floor p50 ${size}`)!,
      },
      { scenario: '4 raw floor', db: kind, metric: `ours ÷ floor, ${label}`, unit: '×', runs: ratio(`ours p50 ${size}`, `floor p50 ${size}`) },
    )
  }
  if (ledgerSizes.length > 1) {
    const first = p50.get(`ours p50 ${ledgerSizes[0]}`)!
    const last = p50.get(`ours p50 ${ledgerSizes[ledgerSizes.length - 1]}`)!
    figures.push({
      scenario: '2 ledger size',
      db: kind,
      metric: `p50 ratio ${ledgerSizes.at(-1)!.toLocaleString('en-US')} ÷ ${ledgerSizes[0].toLocaleString('en-US')} rows`,
      unit: '×',
      runs: last.map((v, i) => v / first[i]),
    })
  }
  return figures
}

/** The provider latency of scenario 5's overspend runs (real LLM calls take 0.5–30 s). */
const PROVIDER_MS = 50

/** Scenario 5 (PostgreSQL): many calls in flight against one hard limit; ours vs the racy baselines. */
export async function concurrency(mode: Mode): Promise<Figure[]> {
  const figures: Figure[] = []
  const total = mode.quick ? 512 : 2048
  for (const inFlight of [64, 256]) {
    for (const tenants of [1, 100]) {
      const runs = {
        tput: [] as number[],
        p99: [] as number[],
        over: [] as number[],
        drift: [] as number[],
        ctrOver: [] as number[],
        sumOver: [] as number[],
        oursSlowOver: [] as number[],
        admittedTput: [] as number[],
        admittedP99: [] as number[],
      }
      for (let r = 0; r < mode.repeats; r++) {
        const db = await openDatabase('postgresql')
        try {
          // Each tenant may spend what admits 1/4 of its share of the calls; the rest must be refused.
          const perTenant = Math.ceil(total / tenants)
          const admits = Math.max(1, Math.floor(perTenant / 4))
          const limit = BigInt(admits) * 100_000n
          const store = new TenantStore(db.client)
          for (let t = 0; t < tenants; t++) await store.upsert({ tenantId: `c-${t}`, limits: { dailyCost: Number(limit) / 1e9 }, enforcement: 'hard' })
          // Refusal backoff off: it delays a refused tenant's refusals on purpose (runaway protection), so
          // with it the calls/s of the 3/4-refused run would measure that policy, not the library's cost.
          const budgets = new LlmBudgets(db.client, { refusalBackoffMs: 0 })
          const latencies: number[] = []
          let next = 0
          const t0 = performance.now()
          const worker = async () => {
            while (next < total) {
              const i = next++
              const t = performance.now()
              await budgets
                .track(`c-${i % tenants}`, { agentType: 'Burst', model: 'm', estimate: { cost: '0.0001' } }, async (c) =>
                  c.reportUsage({ inputCost: '0.0001' }),
                )
                .catch(() => undefined)
              latencies.push(performance.now() - t)
            }
          }
          await Promise.all(Array.from({ length: inFlight }, worker))
          const seconds = (performance.now() - t0) / 1000
          latencies.sort((a, b) => a - b)
          runs.tput.push(total / seconds)
          runs.p99.push(percentile(latencies, 99))
          const top = await createLedger(db.client).costByTenant({ period: 'today', limit: 1000 })
          runs.over.push(Math.max(0, ...top.map((t) => Number(BigInt(t.cost.times(1e9).toFixed(0)) - limit))) / 1e9)
          runs.drift.push((await budgets.refreshCounters()).changed)
          // The same load with every call admitted (a hard limit it never reaches): refusals cost almost
          // nothing, so this is the figure that shows the cost of admitted calls (admission + settle).
          for (let t = 0; t < tenants; t++) await store.upsert({ tenantId: `ok-${t}`, limits: { dailyCost: 1_000_000 }, enforcement: 'hard' })
          const admittedLatencies: number[] = []
          let k = 0
          const t1 = performance.now()
          await Promise.all(
            Array.from({ length: inFlight }, async () => {
              while (k < total) {
                const i = k++
                const t = performance.now()
                await budgets.track(`ok-${i % tenants}`, { agentType: 'Burst', model: 'm', estimate: { cost: '0.0001' } }, async (c) =>
                  c.reportUsage({ inputCost: '0.0001' }),
                )
                admittedLatencies.push(performance.now() - t)
              }
            }),
          )
          runs.admittedTput.push(total / ((performance.now() - t1) / 1000))
          runs.admittedP99.push(
            percentile(
              admittedLatencies.sort((a, b) => a - b),
              99,
            ),
          )
          // Overspend of each design under the same load, with a provider that takes PROVIDER_MS (a
          // check-then-act design's window is the provider call: with a zero-latency provider it
          // barely races at all). Ours runs the same calls as a fourth contender.
          const designs: Array<[keyof typeof over, (c: BaselineCall) => Promise<void>]> = [
            ['ctr', (c) => checkThenRecord(db.client, c)],
            ['sum', (c) => sumPerCheck(db.client, c)],
            [
              'ours',
              (c) =>
                budgets
                  .track(c.tenantId, { agentType: 'Burst', model: 'm', estimate: { cost: '0.0001' } }, async (ctx) => {
                    await c.provider()
                    ctx.reportUsage({ inputCost: '0.0001' })
                  })
                  .catch((err) => {
                    throw err instanceof BudgetExceededError ? new Refused() : err
                  }),
            ],
          ]
          const over = { ctr: runs.ctrOver, sum: runs.sumOver, ours: runs.oursSlowOver }
          for (const [name, design] of designs) {
            for (let t = 0; t < tenants; t++) await store.upsert({ tenantId: `${name}-${t}`, limits: { dailyCost: Number(limit) / 1e9 }, enforcement: 'hard' })
            let k = 0
            const spent = new Map<string, bigint>()
            const w = async () => {
              while (k < total) {
                const i = k++
                const c: BaselineCall = {
                  tenantId: `${name}-${i % tenants}`,
                  limitNanos: limit,
                  costNanos: 100_000n,
                  now: NOW(),
                  provider: () => new Promise((res) => setTimeout(res, PROVIDER_MS)),
                }
                try {
                  await design(c)
                  spent.set(c.tenantId, (spent.get(c.tenantId) ?? 0n) + c.costNanos)
                } catch (err) {
                  if (!(err instanceof Refused)) throw err
                }
              }
            }
            await Promise.all(Array.from({ length: inFlight }, w))
            // In calls: each costs 100,000 nano-USD ($0.0001).
            over[name].push(Math.max(0, ...[...spent.values()].map((v) => Number((v - limit) / 100_000n))))
          }
        } finally {
          await db.close()
        }
      }
      const label = `${inFlight} in flight, ${tenants} tenant${tenants > 1 ? 's' : ''}`
      figures.push(
        { scenario: '5 concurrency', db: 'postgresql', metric: `throughput, 3/4 refused, ${label}`, unit: 'calls/s', runs: runs.tput },
        { scenario: '5 concurrency', db: 'postgresql', metric: `p99 latency, 3/4 refused, ${label}`, unit: 'ms', runs: runs.p99 },
        { scenario: '5 concurrency', db: 'postgresql', metric: `throughput, all admitted, ${label}`, unit: 'calls/s', runs: runs.admittedTput },
        { scenario: '5 concurrency', db: 'postgresql', metric: `p99 latency, all admitted, ${label}`, unit: 'ms', runs: runs.admittedP99 },
        { scenario: '5 concurrency', db: 'postgresql', metric: `overspend ($, worst tenant), ${label}`, unit: '$', runs: runs.over },
        { scenario: '5 concurrency', db: 'postgresql', metric: `counter rows corrected by refresh, ${label}`, unit: 'rows', runs: runs.drift },
        {
          scenario: '5 concurrency',
          db: 'postgresql',
          metric: `check-then-record: calls admitted past the limit (${PROVIDER_MS} ms provider), ${label}`,
          unit: 'calls',
          runs: runs.ctrOver,
        },
        {
          scenario: '5 concurrency',
          db: 'postgresql',
          metric: `SUM-per-check: calls admitted past the limit (${PROVIDER_MS} ms provider), ${label}`,
          unit: 'calls',
          runs: runs.sumOver,
        },
        {
          scenario: '5 concurrency',
          db: 'postgresql',
          metric: `ours: calls admitted past the limit (${PROVIDER_MS} ms provider), ${label}`,
          unit: 'calls',
          runs: runs.oursSlowOver,
        },
      )
    }
  }
  return figures
}

/** Scenario 6: analytics over a large ledger with 10k tenants. */
export async function analytics(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const rows = mode.quick ? 100_000 : 1_000_000
  const db: TestDatabase = await openDatabase(kind)
  try {
    // Last month, not this month: a whole month whatever the date of the run (on the 1st, "this
    // month" holds one day of rows). 62 days of rows always cover all of last month.
    await seedLedger(db, { rows, tenants: 10_000, days: 62, now: NOW() })
    const ledger = createLedger(db.client)
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['usage by day, one tenant, last month', () => ledger.usageByDay({ tenantId: 'tenant-42', period: 'last_month' })],
      ['usage by model, one tenant, last month', () => ledger.usageByModel({ tenantId: 'tenant-42', period: 'last_month' })],
      ['top 10 tenants by spend, last month', () => ledger.costByTenant({ period: 'last_month', limit: 10 })],
    ]
    const figures: Figure[] = []
    for (const [name, run] of cases) {
      await run()
      const runs: number[] = []
      for (let r = 0; r < Math.max(5, mode.repeats * 3); r++) {
        const t = performance.now()
        await run()
        runs.push(performance.now() - t)
      }
      figures.push({ scenario: '6 analytics', db: kind, metric: `${name} (${rows.toLocaleString('en-US')} rows)`, unit: 'ms', runs })
    }
    return figures
  } finally {
    await db.close()
  }
}

/** Scenario 7: RSS over many calls, and the SDK-client cache bound. */
/** Scenario 7: RSS and heap over many tracked calls, each database in a process of its own (memory-child.ts). */
export async function memory(mode: Mode): Promise<Figure[]> {
  const calls = mode.quick ? 3_000 : 1_000_000
  const figures: Figure[] = []
  // SQLite calls run one at a time (one connection); PostgreSQL's with 32 in flight, batching and pool included.
  for (const [kind, inFlight] of [
    ['sqlite', 1],
    ['postgresql', 32],
  ] as const) {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./memory-child.ts', import.meta.url)), kind, String(calls), String(inFlight)],
      { encoding: 'utf8', maxBuffer: 1 << 20, env: process.env },
    )
    const { samples } = JSON.parse(out.trim().split('\n').at(-1)!) as { samples: Array<{ rss: number; heap: number }> }
    // samples[0] is before the first call, samples[k] after k × 10% of them.
    const fromTenth = samples.slice(1)
    const label = `${calls.toLocaleString('en-US')} calls${inFlight > 1 ? `, ${inFlight} in flight` : ''}`
    figures.push(
      { scenario: '7 memory', db: kind, metric: `RSS after 10% of ${label}`, unit: 'MB', runs: [samples[1].rss] },
      { scenario: '7 memory', db: kind, metric: `RSS after 50% of ${label}`, unit: 'MB', runs: [samples[5].rss] },
      { scenario: '7 memory', db: kind, metric: `RSS after all ${label}`, unit: 'MB', runs: [samples.at(-1)!.rss] },
      {
        scenario: '7 memory',
        db: kind,
        metric: 'RSS max ÷ min of the samples from 10% on',
        unit: '×',
        runs: [Math.max(...fromTenth.map((s) => s.rss)) / Math.min(...fromTenth.map((s) => s.rss))],
      },
      { scenario: '7 memory', db: kind, metric: `JS heap in use after a full GC, after 10% of ${label}`, unit: 'MB', runs: [samples[1].heap] },
      { scenario: '7 memory', db: kind, metric: `JS heap in use after a full GC, after all ${label}`, unit: 'MB', runs: [samples.at(-1)!.heap] },
    )
  }
  const cache = new SdkClientCache(256)
  for (let i = 0; i < (mode.quick ? 2_000 : 10_000); i++) await cache.get('openai', `sk-key-${i}`)
  figures.push({
    scenario: '7 memory',
    db: '-',
    metric: `SDK clients cached after ${mode.quick ? '2,000' : '10,000'} distinct keys (bound 256)`,
    unit: 'clients',
    runs: [cache.size],
  })
  return figures
}
