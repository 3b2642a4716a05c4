/**
 * Scenario 8: plans and rate limits, on SQLite and PostgreSQL (see bench/README.md).
 *  (a) per-call cost: scenario 1's call through `LlmBudgets.track` (8 tenants, global monthly budget)
 *      with a plan assigned that carries two rate windows (requestsPerMinute, tokensPerMinute, too
 *      high to refuse) ÷ the same without plan or windows, in alternating rounds A, B, A, B, … of one run;
 *  (b) one tenant over requestsPerSecond: 20 with 64 calls in flight: admitted per 1-s window
 *      (must be exactly the limit) and refusals/s;
 *  (c) a real peer, rate-limiter-flexible, on the same database: its consume of one point per call
 *      beside our call with one rate window, and — in lib/rate-processes.ts — what each design admits
 *      when four processes hammer one key.
 */
import { execSync } from 'node:child_process'
import Database from 'better-sqlite3'
import pg from 'pg'
import { RateLimiterPostgres, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { LlmBudgets, RateLimitExceededError, TenantStore, createPlans } from '../../src/index.ts'
import { openDatabase, POSTGRES_URL, type DbKind, type TestDatabase } from '../../test/support/databases.ts'
import { call, PER_CALL_CONFIG, trackedLatencies, usage, type Mode } from '../scenarios.ts'
import { sharedLimitAcrossProcesses } from './rate-processes.ts'
import { seedLedger } from './seed.ts'
import { percentile, timeCalls, type Figure } from './stats.ts'

const SCENARIO = '8 plans & rate limits'
/** The largest limit a window takes: with it a window is in force on every call and never refuses. */
const NEVER = 1_000_000_000
/** The peer's table, in the same SQLite file / PostgreSQL schema as ours. */
const PEER_TABLE = 'rlflx'
/** (b): the per-second limit, and the calls in flight against it. */
const PER_SECOND = 20
const IN_FLIGHT = 64

/** Tenants of (a) and (c), 8 each, all with a share of the seeded ledger: none / plan + 2 windows / 1 window. */
const PLAIN = (i: number) => `tenant-${i % 8}`
const PLANNED = (i: number) => `tenant-${8 + (i % 8)}`
const ONE_WINDOW = (i: number) => `tenant-${16 + (i % 8)}`

/** The peer on the database of `db`, with its own connection as an app would give it one (the caller closes it). */
interface Peer {
  limiter(points: number, durationSeconds: number): RateLimiterAbstract
  close(): Promise<void>
}

async function openPeer(db: TestDatabase): Promise<Peer> {
  const sqlite = db.kind === 'sqlite' ? new Database(db.location) : null
  const pool = db.kind === 'postgresql' ? new pg.Pool({ connectionString: POSTGRES_URL, options: `-c search_path="${db.location}"`, max: 10 }) : null
  const make = (points: number, duration: number, tableCreated: boolean, cb?: (err?: unknown) => void) => {
    const common = { tableName: PEER_TABLE, tableCreated, clearExpiredByTimeout: false, points, duration }
    return sqlite
      ? new RateLimiterSQLite({ ...common, storeClient: sqlite, storeType: 'better-sqlite3' }, cb)
      : new RateLimiterPostgres({ ...common, storeClient: pool, schemaName: db.location }, cb)
  }
  // The first one creates the table (its constructor reports through the callback).
  await new Promise<void>((resolve, reject) => make(1, 1, false, (err) => (err ? reject(err) : resolve())))
  return {
    limiter: (points, duration) => make(points, duration, true),
    close: async () => {
      sqlite?.close()
      await pool?.end()
    },
  }
}

/**
 * Autovacuum is off on these machines: every call rewrites its hold, counter, rate and ledger rows,
 * so they are vacuumed before each round (as memory-child.ts does during its run), outside the timing.
 */
async function vacuum(db: TestDatabase): Promise<void> {
  if (db.kind === 'postgresql') await db.rawQuery(`VACUUM "llm_budget_holds", "llm_budget_counters", "llm_rate_limits", "llm_executions", "${PEER_TABLE}"`)
}

const us = (sorted: number[]) => percentile(sorted, 50) * 1000
const ratios = (a: number[], b: number[]) => a.map((v, i) => v / b[i])

export async function rateLimits(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const db = await openDatabase(kind)
  let peer: Peer | null = null
  try {
    if (kind === 'sqlite') await db.rawQuery('PRAGMA journal_mode = WAL') // the recommended setup, as in scenario 1
    await seedLedger(db, { rows: 10_000, tenants: 1000, days: 60, now: new Date() })
    const budgets = new LlmBudgets(db.client, PER_CALL_CONFIG)
    await budgets.refreshCounters()
    const store = new TenantStore(db.client)
    const plans = createPlans(db.client, PER_CALL_CONFIG)
    await plans.definePlan({ key: 'bench-rated', name: 'Bench (rated)', rateLimits: { requestsPerMinute: NEVER, tokensPerMinute: NEVER } })
    for (let i = 0; i < 8; i++) {
      // Every tenant has its row: the only difference between the setups is the plan and its windows.
      await store.upsert({ tenantId: PLAIN(i) })
      await plans.changePlan(PLANNED(i), 'bench-rated')
      await store.upsert({ tenantId: ONE_WINDOW(i), rateLimits: { requestsPerMinute: NEVER } })
    }
    await expectWindows(budgets, PLAIN(0), [])
    await expectWindows(budgets, PLANNED(0), ['requestsPerMinute plan', 'tokensPerMinute plan'])
    await expectWindows(budgets, ONE_WINDOW(0), ['requestsPerMinute tenant'])
    if ((await budgets.status(PLANNED(0))).plan?.key !== 'bench-rated') throw new Error('scenario 8: the plan is not in force')
    peer = await openPeer(db)
    // From a quiet disk, as scenario 1 starts each ledger size.
    if (kind === 'postgresql') {
      await db.rawQuery('ANALYZE')
      await db.rawQuery('CHECKPOINT')
    }
    try {
      execSync('sync')
    } catch {
      /* not on this platform */
    }
    return [
      ...(await planAndWindows(db, budgets, mode)),
      ...(await beside(db, budgets, peer, mode)),
      ...(await perSecondBurst(db, mode)),
      ...(await sharedLimitAcrossProcesses(db, mode, { scenario: SCENARIO, peerTable: PEER_TABLE, vacuum })),
    ]
  } finally {
    await peer?.close()
    await db.close()
  }
}

/** Fails the run when a tenant's windows are not the ones the figures claim (name and source of each). */
async function expectWindows(budgets: LlmBudgets, tenant: string, expected: string[]): Promise<void> {
  const got = (await budgets.rateLimitStatus(tenant)).map((w) => `${w.name} ${w.source}`).sort()
  if (got.join() !== expected.join()) throw new Error(`scenario 8: ${tenant} has windows [${got.join(', ')}], expected [${expected.join(', ')}]`)
}

/**
 * (a) Rounds A (no plan, no windows) and B (plan + 2 windows) alternating — A, B, A, B, …, A — so
 * every B round has an A round on either side: its ratio is B ÷ the mean of those two, which
 * cancels a load on the machine that rises or falls steadily over the pair (a lone B ÷ the A before
 * it would carry that drift).
 */
async function planAndWindows(db: TestDatabase, budgets: LlmBudgets, mode: Mode): Promise<Figure[]> {
  const runs = { none: [] as number[], rated: [] as number[] }
  const pairs = mode.repeats * 3
  for (let r = 0; r <= pairs; r++) {
    await vacuum(db)
    runs.none.push(us(await trackedLatencies(budgets, mode.calls, PLAIN)))
    if (r === pairs) break
    await vacuum(db)
    runs.rated.push(us(await trackedLatencies(budgets, mode.calls, PLANNED)))
  }
  const kind = db.kind
  return [
    { scenario: SCENARIO, db: kind, metric: 'p50, no plan, no rate window (8 tenants, global monthly budget)', unit: 'µs', runs: runs.none },
    { scenario: SCENARIO, db: kind, metric: 'p50, plan with requestsPerMinute + tokensPerMinute (same tenants’ shape)', unit: 'µs', runs: runs.rated },
    {
      scenario: SCENARIO,
      db: kind,
      metric: `p50 ratio, plan + 2 rate windows ÷ none (${pairs} B rounds, each ÷ the A rounds either side)`,
      unit: '×',
      runs: runs.rated.map((b, i) => b / ((runs.none[i] + runs.none[i + 1]) / 2)),
    },
  ]
}

/**
 * (c) The peer beside us, in rounds of: ours with one window; the peer's consume of one point (8
 * keys, a limit it never reaches); and what an app would run to have both budgets and a rate limit
 * with the peer — its consume, then our call without windows.
 */
async function beside(db: TestDatabase, budgets: LlmBudgets, peer: Peer, mode: Mode): Promise<Figure[]> {
  const limiter = peer.limiter(NEVER, 60)
  const consume = (i: number) => limiter.consume(`key-${i % 8}`, 1)
  const runs = { one: [] as number[], peer: [] as number[], both: [] as number[] }
  for (let r = 0; r < mode.repeats * 2; r++) {
    await vacuum(db)
    runs.one.push(us(await trackedLatencies(budgets, mode.calls, ONE_WINDOW)))
    await vacuum(db)
    for (let i = 0; i < 40; i++) await consume(i)
    runs.peer.push(us(await timeCalls(mode.calls, consume)))
    await vacuum(db)
    runs.both.push(
      us(
        await timeCalls(mode.calls, async (i) => {
          await consume(i)
          await budgets.track(PLAIN(i), call, usage)
        }),
      ),
    )
  }
  const kind = db.kind
  const store = kind === 'sqlite' ? 'RateLimiterSQLite on better-sqlite3' : 'RateLimiterPostgres on pg'
  return [
    { scenario: SCENARIO, db: kind, metric: 'p50, ours with one rate window (requestsPerMinute)', unit: 'µs', runs: runs.one },
    { scenario: SCENARIO, db: kind, metric: `rate-limiter-flexible consume p50 (${store}, same database)`, unit: 'µs', runs: runs.peer },
    { scenario: SCENARIO, db: kind, metric: 'rate-limiter-flexible consume ÷ ours with one rate window', unit: '×', runs: ratios(runs.peer, runs.one) },
    { scenario: SCENARIO, db: kind, metric: 'p50, rate-limiter-flexible consume, then ours without windows', unit: 'µs', runs: runs.both },
    {
      scenario: SCENARIO,
      db: kind,
      metric: 'ours with one rate window ÷ (rate-limiter-flexible consume, then ours without)',
      unit: '×',
      runs: ratios(runs.one, runs.both),
    },
  ]
}

/**
 * (b) 64 calls in flight on one tenant over `requestsPerSecond: 20` (refusal backoff off, as in
 * scenario 5). GCRA admits a full bucket (20) at once and then one call every 1/20 s: after a
 * second of warm-up (the bucket drained), every 1-s window must admit exactly 20. The windows start
 * half an interval (25 ms) before the first admission after the warm-up, so each boundary falls
 * between two admissions rather than on one (where a few µs of jitter would decide which window
 * counts it). Each admission is stamped on the clock that decided it: SQLite decides on the app's
 * clock at the call's start (its `startedAt`), so when the call starts; PostgreSQL on the database
 * clock during the admission statement, so when that statement has returned (on entry to the call's
 * function). Refusals are stamped when they return.
 */
async function perSecondBurst(db: TestDatabase, mode: Mode): Promise<Figure[]> {
  const windows = mode.quick ? 3 : 5
  const interval = 1000 / PER_SECOND
  const runs = { perWindow: [] as number[], off: [] as number[], refusals: [] as number[], admittedP50: [] as number[] }
  for (let r = 0; r < mode.repeats; r++) {
    await vacuum(db)
    const tenant = `burst-${r}`
    await new TenantStore(db.client).upsert({ tenantId: tenant, rateLimits: { requestsPerSecond: PER_SECOND }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db.client, { refusalBackoffMs: 0 })
    await budgets.status(tenant) // the tenant row cached, as in a running app
    const admitted: number[] = []
    const refused: number[] = []
    const latencies: number[] = []
    const t0 = performance.now()
    const end = t0 + 1000 + (windows + 1) * 1000
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < end) {
          const t = performance.now()
          try {
            await budgets.track(tenant, call, async (c) => {
              admitted.push(db.kind === 'sqlite' ? t : performance.now())
              c.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: '0.00001', outputCost: '0.00002' })
            })
            latencies.push(performance.now() - t)
          } catch (err) {
            if (!(err instanceof RateLimitExceededError)) throw err
            refused.push(performance.now())
          }
        }
      }),
    )
    const first = admitted.find((t) => t >= t0 + 1000)
    if (first === undefined) throw new Error('scenario 8: nothing admitted after the warm-up')
    const start = first - interval / 2
    const counts = Array.from({ length: windows }, (_, k) => admitted.filter((t) => t >= start + k * 1000 && t < start + (k + 1) * 1000).length)
    runs.perWindow.push(...counts)
    runs.off.push(counts.filter((n) => n !== PER_SECOND).length)
    runs.refusals.push(refused.filter((t) => t >= start && t < start + windows * 1000).length / windows)
    runs.admittedP50.push(
      percentile(
        latencies.sort((a, b) => a - b),
        50,
      ),
    )
  }
  const kind = db.kind
  const label = `${IN_FLIGHT} in flight, one tenant, requestsPerSecond ${PER_SECOND}`
  return [
    { scenario: SCENARIO, db: kind, metric: `admitted per 1-s window (${windows} windows per run), ${label}`, unit: 'calls', runs: runs.perWindow },
    {
      scenario: SCENARIO,
      db: kind,
      metric: `1-s windows not admitting exactly ${PER_SECOND} (of ${windows} per run), ${label}`,
      unit: 'windows',
      runs: runs.off,
    },
    { scenario: SCENARIO, db: kind, metric: `refusals/s, ${label}`, unit: 'calls/s', runs: runs.refusals },
    { scenario: SCENARIO, db: kind, metric: `p50 latency of admitted calls, ${label}`, unit: 'ms', runs: runs.admittedP50 },
  ]
}
