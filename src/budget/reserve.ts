/**
 * The reserve step: hold a call's estimated cost, tokens and one execution on every counter row it
 * touches, and its cost on every rate window, atomically, before the provider is contacted. One
 * statement (PostgreSQL, admission-pg.ts) or one transaction (SQLite, admission-sqlite.ts) writes
 * the `running` ledger row, the hold, the conditional counter updates and the window moves; if any
 * hard limit or window refuses, nothing is taken and the caller gets a BudgetExceededError or a
 * RateLimitExceededError naming it. Under concurrency the conditional statement is the only arbiter.
 */
import type { RawRunner, SqlProvider, TransactionRunner } from '../db/client.js'
import { nanosToUsd } from '../foundation/money.js'
import { fitsLimit, roomNeeded, type LimitCheck } from '../ledger/counters/fits.js'
import { bucketRange, keyId, type CounterKey } from '../ledger/counters/keys.js'
import { ensureCounterRowsShared, readCounters, type CounterRow, type Delta } from '../ledger/counters/statements.js'
import type { ExecutionRow } from '../ledger/record.js'
import { decide, nsToDate, nsToMsCeil, toNs } from '../rate-limits/gcra.js'
import { rateKeyId, type RateCheck } from '../rate-limits/keys.js'
import { ensureRateRows, readRateRows, type RateDelta, type RateRow } from '../rate-limits/statements.js'
import { attemptPg, type Attempt, type Reservation } from './admission-pg.js'
import { attemptSqlite } from './admission-sqlite.js'
import { BudgetExceededError, RateLimitExceededError } from './errors.js'
import type { SpentCache } from './perf/spent-cache.js'
import type { EffectivePolicy } from './policy.js'

export type { Reservation } from './admission-pg.js'

function reserveDeltas(res: Reservation, policy: EffectivePolicy): Delta[] {
  return res.keys.map((key) => {
    const hard = policy.checks.filter((c) => c.enforcement === 'hard' && (c.key === key || keyId(c.key) === keyId(key)))
    const limit = (measure: LimitCheck['measure']) => {
      const values = hard.filter((c) => c.measure === measure).map((c) => c.limit)
      // bigints: Math.min does not take them
      return values.length === 0 ? null : values.reduce((a, b) => (a < b ? a : b))
    }
    return {
      key,
      reservedCost: res.cost,
      reservedTokens: res.tokens,
      reservedExecutions: 1n,
      limitCost: limit('cost'),
      limitTokens: limit('tokens'),
      limitExecutions: limit('executions'),
    }
  })
}

/** Deadlocks / serialization failures are safe to retry: the transaction rolled back entirely. */
function isWriteConflict(err: unknown): boolean {
  return /40P01|40001|deadlock|TransactionWriteConflict|SQLITE_BUSY|database is locked/i.test(errorText(err))
}

/** What a driver error says: its message, the adapter's underlying error and its code. */
function errorText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; meta?: { driverAdapterError?: unknown } } | null
  return `${String(e?.message ?? '')} ${String(e?.meta?.driverAdapterError ?? '')} ${String(e?.code ?? '')}`
}

/**
 * The connection died under the statement (backend terminated, socket reset): a pooled connection
 * that the pool had not yet noticed was dead. Retrying on another one is safe even if the first
 * attempt committed before the answer was lost: the retry writes the same execution id, so it
 * fails on the ledger's primary key and nothing is reserved twice (the first hold then expires).
 */
function isLostConnection(err: unknown): boolean {
  return /57P01|terminating connection|Connection terminated|ECONNRESET|EPIPE|connection closed|server closed the connection/i.test(errorText(err))
}

async function attempt(
  client: TransactionRunner & RawRunner,
  provider: SqlProvider,
  res: Reservation,
  row: ExecutionRow,
  deltas: Delta[],
  rates: RateDelta[],
  now: Date,
  first: boolean,
  rateNow: Date,
): Promise<Attempt> {
  // Several pooled connections can be dead at once (every idle one, after a database restart): each
  // retry takes another, up to a few.
  let reconnects = 0
  for (let retry = 0; ; retry++) {
    try {
      return provider === 'postgresql'
        ? await attemptPg(client, res, row, deltas, rates, now, first)
        : await attemptSqlite(client, res, row, deltas, rates, now, rateNow)
    } catch (err) {
      if (reconnects < 4 && isLostConnection(err)) {
        reconnects++
        continue
      }
      if (retry >= 5 || !isWriteConflict(err)) throw err
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (retry + 1)))
    }
  }
}

/**
 * Creating missing rows runs outside the attempt, as autocommitted statements: another process's
 * transaction may hold SQLite's write lock (SQLITE_BUSY) or a PostgreSQL deadlock may be reported;
 * the inserts are idempotent (ON CONFLICT DO NOTHING), so they are simply tried again.
 */
async function retryingConflicts(write: () => Promise<void>): Promise<void> {
  for (let retry = 0; ; retry++) {
    try {
      return await write()
    } catch (err) {
      if (retry >= 8 || !isWriteConflict(err)) throw err
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (retry + 1)))
    }
  }
}

/** What a hard check measures on its row: spent, reserved by calls in flight, and this call's need. */
function figures(check: LimitCheck, row: CounterRow | undefined, res: Reservation): { spent: bigint; reserved: bigint; need: bigint } {
  const need = check.measure === 'cost' ? res.cost : check.measure === 'tokens' ? res.tokens : 1n
  if (!row) return { spent: 0n, reserved: 0n, need }
  if (check.measure === 'cost') return { spent: row.spentCost, reserved: row.reservedCost, need }
  if (check.measure === 'tokens') return { spent: row.spentTokens, reserved: row.reservedTokens, need }
  return { spent: row.spentExecutions, reserved: row.reservedExecutions, need }
}

function rowsById(rows: CounterRow[]): Map<string, CounterRow> {
  return new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
}

/**
 * The first hard limit the current counters cannot fit this reservation into; `fitsWithoutHolds`
 * says whether it would fit if no call were in flight (only then can expiring holds help).
 */
function findRefusal(rows: CounterRow[], policy: EffectivePolicy, res: Reservation): (LimitCheck & { current: bigint; fitsWithoutHolds: boolean }) | null {
  const byId = rowsById(rows)
  for (const check of policy.checks) {
    if (check.enforcement !== 'hard') continue
    const { spent, reserved, need } = figures(check, byId.get(keyId(check.key)), res)
    if (!fitsLimit(spent + reserved, need, check.limit)) return { ...check, current: spent + reserved, fitsWithoutHolds: fitsLimit(spent, need, check.limit) }
  }
  return null
}

/** The hard check with the least room left for this reservation (its figures from `rows`). */
function tightestCheck(rows: CounterRow[], policy: EffectivePolicy, res: Reservation): LimitCheck & { current: bigint } {
  const byId = rowsById(rows)
  let best: (LimitCheck & { current: bigint; room: bigint }) | null = null
  for (const check of policy.checks) {
    if (check.enforcement !== 'hard') continue
    const { spent, reserved, need } = figures(check, byId.get(keyId(check.key)), res)
    const room = check.limit - spent - reserved - roomNeeded(need)
    if (!best || room < best.room) best = { ...check, current: spent + reserved, room }
  }
  return best!
}

/** How a refusal names its scope: tenant×agent and global×agent are both 'agent'. */
function publicScope(scope: string): 'tenant' | 'global' | 'agent' | 'api_key' {
  return scope === 'tenant' || scope === 'global' || scope === 'api_key' ? scope : 'agent'
}

/**
 * The typed refusal for a hard check: money as Decimal dollars, counts as numbers, and when the
 * refusing period resets (`at` is the call's instant; maxConcurrent has no period, so no reset).
 */
export function refusalError(check: LimitCheck & { current: bigint }, agentType: string | null, at: Date, timeZone: string): BudgetExceededError {
  const period = check.key[3]
  const retryAfter = period === 'inflight' ? null : bucketRange(period, check.key[4], timeZone).to
  const base = {
    scope: publicScope(check.scope),
    tenantId: check.scope === 'api_key' ? (check.tenantId ?? null) : check.key[1] === '' ? null : check.key[1],
    apiKeyId: check.scope === 'api_key' ? check.key[1] : null,
    agentType,
    retryAfter,
    retryAfterSeconds: retryAfter === null ? null : Math.max(1, Math.ceil((retryAfter.getTime() - at.getTime()) / 1000)),
  }
  if (check.limitType === 'dailyCost' || check.limitType === 'monthlyCost') {
    return new BudgetExceededError({ ...base, limitType: check.limitType, limit: nanosToUsd(check.limit), current: nanosToUsd(check.current) })
  }
  return new BudgetExceededError({ ...base, limitType: check.limitType, limit: Number(check.limit), current: Number(check.current) })
}

/** The typed refusal for a rate window: `retryAfterNs` null = the call can never fit it. */
export function rateRefusalError(check: RateCheck, agentType: string | null, nowNs: bigint, retryAfterNs: bigint | null): RateLimitExceededError {
  return new RateLimitExceededError({
    scope: publicScope(check.scope),
    tenantId: check.scope === 'api_key' ? (check.tenantId ?? null) : check.key[1] === '' ? null : check.key[1],
    apiKeyId: check.scope === 'api_key' ? check.key[1] : null,
    agentType,
    name: check.name,
    window: check.window,
    limitType: check.measure,
    limit: Number(check.limit),
    source: check.source,
    retryAfterMs: retryAfterNs === null ? null : Math.max(1, nsToMsCeil(retryAfterNs)),
    resetsAt: retryAfterNs === null ? null : nsToDate(nowNs + retryAfterNs),
  })
}

/**
 * The windows the rows refuse the call on, and the latest of their retry times (with several, the
 * largest wait wins: only then can every one of them fit); null when they all fit.
 */
function rateRefusal(rates: readonly RateDelta[], seen: { nowNs: bigint; rows: readonly RateRow[] }, agentType: string): RateLimitExceededError | null {
  const byId = new Map(seen.rows.map((r) => [rateKeyId(r.key), r]))
  let worst: { delta: RateDelta; wait: bigint | null } | null = null
  for (const d of rates) {
    const stored = byId.get(rateKeyId(d.key))
    const decision = decide(stored?.tatNs ?? 0n, seen.nowNs, d.cost, d.check.limit, d.check.window, stored?.limitValue ?? 0n)
    if (decision.fits) continue
    const wait = decision.retryAfterNs
    if (!worst || wait === null || (worst.wait !== null && wait > worst.wait)) worst = { delta: d, wait }
    if (wait === null) break
  }
  return worst ? rateRefusalError(worst.delta.check, agentType, seen.nowNs, worst.wait) : null
}

/**
 * Reserves or throws. The common cases cost one statement (admitted) or two (refused: the attempt,
 * then one read to name the limit, unless the statement returned its rows). `sweep` releases
 * expired holds (crashed holders); it runs only when in-flight reservations are part of what
 * refuses the call, so a dead process cannot pin a budget past its holds' expiry, while a budget
 * that is simply spent is refused without the sweep's transaction.
 */
export async function reserve(
  client: TransactionRunner & RawRunner,
  provider: SqlProvider,
  res: Reservation,
  row: ExecutionRow,
  policy: EffectivePolicy,
  rates: RateDelta[],
  now: Date,
  sweep: () => Promise<number>,
  timeZone: string,
  spent?: SpentCache,
  clock?: () => Date,
): Promise<void> {
  const certain = spent?.certainRefusal(policy, res)
  if (certain) throw refusalError(certain, row.agentType, now, timeZone)
  const deltas = reserveDeltas(res, policy)
  let swept = false
  let rows: CounterRow[] = []
  for (let round = 0; round < 8; round++) {
    // Windows are decided at the moment of the decision (PostgreSQL: the database clock), not at
    // the call's instant: a call that waited for the write lock behind later-started ones would
    // otherwise compute its wait from an earlier instant than theirs and overstate retryAfterMs.
    const rateNow = clock ? new Date(Math.max(now.getTime(), clock().getTime())) : now
    const tried = await attempt(client, provider, res, row, deltas, rates, now, round === 0, rateNow)
    if (tried.ok) return
    rows = tried.rows ?? (await readCounters(client, provider, res.keys))
    if (rows.length < res.keys.length) {
      // A counter row does not exist yet (new day/month/tenant/agent). Rows are created outside the
      // attempt's transaction, so a refused attempt cannot roll them back.
      await retryingConflicts(() => ensureCounterRowsShared(client, provider, res.keys, now, timeZone))
      continue
    }
    spent?.observe(rows)
    const refusal = findRefusal(rows, policy, res)
    if (refusal) {
      if (swept || !refusal.fitsWithoutHolds || (await sweep()) === 0) throw refusalError(refusal, row.agentType, now, timeZone)
      swept = true
      continue
    }
    if (rates.length > 0) {
      const seen = tried.rates ?? {
        nowNs: toNs(rateNow),
        rows: await readRateRows(
          client,
          provider,
          rates.map((r) => r.key),
        ),
      }
      if (seen.rows.length < rates.length) {
        await retryingConflicts(() =>
          ensureRateRows(
            client,
            provider,
            rates.map((r) => r.key),
            now,
          ),
        )
        continue
      }
      const refused = rateRefusal(rates, seen, row.agentType)
      if (refused) throw refused
    }
    // Counters or windows moved between the attempt and the read (a call settled): try again.
  }
  // Only reachable when calls keep settling and starting around a limit at its edge: refuse naming
  // the limit closest to its edge, with its latest figures (never a made-up "current 0").
  if (policy.checks.some((c) => c.enforcement === 'hard')) throw refusalError(tightestCheck(rows, policy, res), row.agentType, now, timeZone)
  const last = {
    nowNs: toNs(clock ? new Date(Math.max(now.getTime(), clock().getTime())) : now),
    rows: await readRateRows(
      client,
      provider,
      rates.map((r) => r.key),
    ),
  }
  throw rateRefusal(rates, last, row.agentType) ?? rateRefusalError(rates[0].check, row.agentType, last.nowNs, 1_000_000n)
}
