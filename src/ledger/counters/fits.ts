/**
 * The one rule of a hard limit, for every scope and measure (cost, tokens, executions, calls in
 * flight): a call is admitted only if what is used (spent + reserved by calls in flight) is below
 * the limit AND what is used plus the call's reservation does not pass it. The first half is what
 * makes a used-up budget refuse a call that reserves nothing (no estimate, or an estimate of 0):
 * spent + reserved + 0 <= limit alone would admit it, and that call could then report any cost.
 * It also makes a limit of 0 refuse everything.
 *
 * For integers, `used < limit && used + need <= limit` is `used + max(need, 1) <= limit`: every
 * call needs at least one unit of room. That is the form the SQL statements use.
 */
import type { BudgetLimitType, Enforcement } from '../../config/limits.js'
import type { CounterKey, Scope } from './keys.js'

/** JS form: does a reservation of `need` fit when `used` is already spent or reserved? */
export function fitsLimit(used: bigint, need: bigint, limit: bigint): boolean {
  return used + (need > 0n ? need : 1n) <= limit
}

/** The room a check requires of a reservation of `need`: at least one unit. */
export function roomNeeded(need: bigint): bigint {
  return need > 0n ? need : 1n
}

/** SQL form of roomNeeded for a bound or computed integer expression (same on SQLite and PostgreSQL). */
export function roomNeededSql(need: string): string {
  return `(CASE WHEN ${need} > 0 THEN ${need} ELSE 1 END)`
}

/** One limit that applies to a call: a measure of one counter row, its limit and enforcement. */
export interface LimitCheck {
  scope: Scope
  key: CounterKey
  limitType: BudgetLimitType
  measure: 'cost' | 'tokens' | 'executions'
  limit: bigint
  enforcement: Enforcement
  /** The tenant of an `api_key` check (its key's second part is the key id). */
  tenantId?: string
}
