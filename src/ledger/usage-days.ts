/**
 * The day rollup (`llm_usage_days`): executions per zone-local day × agent type × model × status
 * over every tenant, for views across all tenants (the dashboard's overview: a month's cards, a
 * 30-day chart, top agents) that would otherwise read every ledger row of the month.
 *
 * Exact by construction, not by refresh: only a day that is over is stored — it ended at least
 * SEAL_MARGIN_MS ago and holds no `running` row. Admission writes at the current instant, and
 * settles of `running` rows and hold expiry only touch days that hold a running row (never stored).
 * Every write that can reach a stored day deletes the stored days its rows land in, in its own
 * transaction (`forgetUsageDays`): `LlmLedger.recordExecution(s)` with an older `startedAt`, a late
 * settle (it rewrites a `timeout` row — not running, so possibly in a stored day — with the real
 * status, model, tokens and cost), and a refusal recorded with an older `at`.
 * On PostgreSQL both sides take one advisory lock, so a day computed while such a write commits is
 * either computed after it (and includes it) or deleted by it. Days not stored yet are computed from
 * the ledger on first read (one indexed range of the day) and stored; days still open are read from
 * the ledger every time. Recomputable: deleting rows (`forgetAllUsageDays`) only costs a recompute.
 */
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { placeholder } from '../db/client.js'
import { toNanos } from '../foundation/money.js'
import { daysOf } from '../foundation/periods.js'
import { bucketRange } from './counters/keys.js'

/** How long after its end a day may be stored: covers clock skew between processes and late settles. */
const SEAL_MARGIN_MS = 6 * 3_600_000
/** Writes of rows older than this before the writer's clock may land in a stored day: they delete it. */
const FORGET_WHEN_OLDER_MS = 3_600_000
const MARKER_STATUS = '*'
/** One key for every writer of stored days (PostgreSQL advisory lock). */
const LOCK_SQL = `SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext('llm_usage_days'))) AS l`

export interface UsageDayRow {
  day: string
  agentType: string
  model: string
  status: string
  costNanos: bigint
  tokens: bigint
  executions: bigint
}

type Grouped = { agentType: string; model: string; status: string; _sum: { totalCostNanos?: unknown; totalTokens?: unknown }; _count: { _all: number } }

async function ledgerDay(db: LlmPrismaClient, day: string, from: Date, to: Date): Promise<UsageDayRow[]> {
  const groups = (await db.llmExecution.groupBy({
    by: ['agentType', 'model', 'status'],
    where: { startedAt: { gte: from, lt: to } },
    _sum: { totalCostNanos: true, totalTokens: true },
    _count: { _all: true },
    orderBy: [{ agentType: 'asc' }, { model: 'asc' }, { status: 'asc' }],
  })) as Grouped[]
  return groups.map((g) => ({
    day,
    agentType: g.agentType,
    model: g.model,
    status: g.status,
    costNanos: toNanos(g._sum.totalCostNanos),
    tokens: toNanos(g._sum.totalTokens),
    executions: BigInt(g._count._all),
  }))
}

/** SQLite's "another connection holds the lock" (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, "database is locked"). */
const isSqliteBusy = (err: unknown) => /SQLITE_BUSY|database is locked/i.test(`${(err as { code?: unknown })?.code} ${(err as Error)?.message}`)

/**
 * Computes a day that is over from the ledger and stores it with its marker (idempotent). On SQLite
 * the transaction first takes the write lock (a write statement that changes nothing, like BEGIN
 * IMMEDIATE): a deferred transaction that read first could not upgrade after a concurrent write of an
 * older row committed (SQLITE_BUSY). If the lock is still busy, the day is retried once, then read
 * from the ledger without being stored.
 */
async function storeDay(client: LlmPrismaClient, provider: SqlProvider, timeZone: string, day: string, from: Date, to: Date): Promise<UsageDayRow[]> {
  if (provider === 'postgresql') return storeDayOnce(client, provider, timeZone, day, from, to)
  for (let attempt = 0; ; attempt++) {
    try {
      return await storeDayOnce(client, provider, timeZone, day, from, to)
    } catch (err) {
      if (!isSqliteBusy(err)) throw err
      if (attempt >= 1) return ledgerDay(client, day, from, to)
    }
  }
}

async function storeDayOnce(client: LlmPrismaClient, provider: SqlProvider, timeZone: string, day: string, from: Date, to: Date): Promise<UsageDayRow[]> {
  return (await client.$transaction(async (tx: LlmPrismaClient) => {
    if (provider === 'postgresql') await tx.$queryRawUnsafe(LOCK_SQL)
    else await tx.$executeRawUnsafe(`DELETE FROM "llm_usage_days" WHERE 0 = 1`)
    const rows = await ledgerDay(tx, day, from, to)
    if (rows.some((r) => r.status === 'running')) return rows // not over yet: read live until it settles
    const total = rows.reduce((t, r) => ({ c: t.c + r.costNanos, k: t.k + r.tokens, n: t.n + r.executions }), { c: 0n, k: 0n, n: 0n })
    const all = [...rows, { day, agentType: '', model: '', status: MARKER_STATUS, costNanos: total.c, tokens: total.k, executions: total.n }]
    const p = (i: number) => placeholder(provider, i)
    const values: unknown[] = []
    const tuples = all.map((r) => {
      const at = values.length
      values.push(timeZone, day, r.agentType, r.model, r.status, BigInt(from.getTime()), BigInt(to.getTime()), r.costNanos, r.tokens, r.executions)
      return `(${Array.from({ length: 10 }, (_, i) => p(at + i + 1)).join(', ')})`
    })
    await tx.$executeRawUnsafe(
      `INSERT INTO "llm_usage_days" ("time_zone", "day", "agent_type", "model", "status", "day_start_ms", "day_end_ms", "cost_nanos", "tokens", "executions")
       VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`,
      ...values,
    )
    return rows
  })) as UsageDayRow[]
}

/**
 * Every row of the days overlapping [from, to) in the zone: stored days from the rollup, days that
 * are over but not stored yet computed and stored, open days (and clipped partial days) from the ledger.
 */
export async function usageDays(
  client: LlmPrismaClient,
  provider: SqlProvider,
  range: { from: Date; to: Date; timeZone: string },
  now: Date,
): Promise<UsageDayRow[]> {
  const days = daysOf(range)
  if (days.length === 0) return []
  const p = (i: number) => placeholder(provider, i)
  const stored = (await client.$queryRawUnsafe(
    `SELECT "day", "agent_type", "model", "status", CAST("cost_nanos" AS TEXT) AS cost, CAST("tokens" AS TEXT) AS tokens, CAST("executions" AS TEXT) AS n
       FROM "llm_usage_days" WHERE "time_zone" = ${p(1)} AND "day" >= ${p(2)} AND "day" <= ${p(3)}`,
    range.timeZone,
    days[0].key,
    days[days.length - 1].key,
  )) as Array<{ day: string; agent_type: string; model: string; status: string; cost: unknown; tokens: unknown; n: unknown }>
  const sealed = new Set(stored.filter((r) => r.status === MARKER_STATUS).map((r) => r.day))
  const out: UsageDayRow[] = stored
    .filter((r) => r.status !== MARKER_STATUS)
    .map((r) => ({
      day: r.day,
      agentType: r.agent_type,
      model: r.model,
      status: r.status,
      costNanos: toNanos(r.cost),
      tokens: toNanos(r.tokens),
      executions: toNanos(r.n),
    }))
  for (const day of days) {
    if (sealed.has(day.key)) continue
    // Only a whole day is stored: a day the range clips is read from the ledger for its part.
    const full = bucketRange('day', day.key, range.timeZone)
    const isWhole = day.start.getTime() === full.from.getTime() && day.end.getTime() === full.to.getTime()
    const over = day.end.getTime() + SEAL_MARGIN_MS <= now.getTime()
    out.push(
      ...(isWhole && over
        ? await storeDay(client, provider, range.timeZone, day.key, day.start, day.end)
        : await ledgerDay(client, day.key, day.start, day.end)),
    )
  }
  return out
}

/** True when a row started at `at` may land in a stored day (a writer must then call forgetUsageDays). */
export function mayLandInStoredDay(at: Date, now: Date): boolean {
  return at.getTime() < now.getTime() - FORGET_WHEN_OLDER_MS
}

/**
 * In the transaction that writes ledger rows: deletes the stored days those rows land in. Rows near
 * the writer's current instant cannot land in a stored day (it ended SEAL_MARGIN_MS before it was
 * stored), so the usual write skips this entirely; older rows take the lock and delete.
 */
export async function forgetUsageDays(tx: LlmPrismaClient, provider: SqlProvider, startedAts: readonly Date[], now: Date): Promise<void> {
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (const at of startedAts) {
    const t = at.getTime()
    if (!mayLandInStoredDay(at, now)) continue
    if (t < min) min = t
    if (t > max) max = t
  }
  if (min === Number.POSITIVE_INFINITY) return
  if (provider === 'postgresql') await tx.$queryRawUnsafe(LOCK_SQL)
  const p = (i: number) => placeholder(provider, i)
  // A day is at most 25 hours long (DST): its start is within that of any instant in it.
  await tx.$executeRawUnsafe(
    `DELETE FROM "llm_usage_days" WHERE "day_start_ms" > ${p(1)} AND "day_start_ms" <= ${p(2)} AND "day_end_ms" > ${p(3)}`,
    BigInt(min - 26 * 3_600_000),
    BigInt(max),
    BigInt(min),
  )
}

/** Deletes every stored day (after rows were written around the ledger API); they are rebuilt when read. */
export async function forgetAllUsageDays(client: LlmPrismaClient): Promise<number> {
  return client.$executeRawUnsafe(`DELETE FROM "llm_usage_days"`)
}
