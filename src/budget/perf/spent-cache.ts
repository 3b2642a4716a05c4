/**
 * Refusing a spent budget without a database round trip.
 *
 * Within a day or month bucket a counter's `spent` only grows (settles and expiries add to it; only
 * refreshCounters may correct it). So once this process has seen `spent` of a hard-limited row,
 * "seenSpent leaves no room for need" (fits.ts) proves the call would be refused by the database too, whatever is
 * reserved — refusing on a stale value is always right. The database stays the only arbiter of
 * admission: this cache can refuse, never admit.
 *
 * Why it matters: a runaway tenant that has used up its budget keeps firing calls; each refusal
 * otherwise locks the tenant's counter rows and queues behind its in-flight calls. Entries live
 * `ttlMs` (bounding how long a correction by another process's refreshCounters goes unseen) and the
 * map is capped.
 */
import type { CounterRow } from '../../ledger/counters/statements.js'
import { keyId, type CounterKey } from '../../ledger/counters/keys.js'
import { fitsLimit } from '../../ledger/counters/fits.js'
import type { LimitCheck } from '../../ledger/counters/fits.js'

const MAX_ENTRIES = 10_000

interface SeenSpent {
  cost: bigint
  tokens: bigint
  executions: bigint
  at: number
}

export class SpentCache {
  private readonly seen = new Map<string, SeenSpent>()

  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Remembers the spent figures of day/month rows (the only monotonic ones). */
  observe(rows: readonly CounterRow[]): void {
    if (this.ttlMs <= 0) return
    const at = this.clock()
    for (const r of rows) {
      if (r.period !== 'day' && r.period !== 'month') continue
      const id = keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey)
      if (!this.seen.has(id) && this.seen.size >= MAX_ENTRIES) this.seen.clear()
      // Any observed figure is a lower bound of the row's spent today: the latest one is kept.
      this.seen.set(id, { cost: r.spentCost, tokens: r.spentTokens, executions: r.spentExecutions, at })
    }
  }

  /** A hard limit the call certainly cannot fit (spent alone leaves no room), or null. */
  certainRefusal(policy: { readonly checks: readonly LimitCheck[] }, need: { cost: bigint; tokens: bigint }): (LimitCheck & { current: bigint }) | null {
    if (this.seen.size === 0) return null
    const now = this.clock()
    for (const check of policy.checks) {
      if (check.enforcement !== 'hard' || check.limitType === 'maxConcurrent') continue
      const entry = this.seen.get(keyId(check.key))
      if (!entry) continue
      if (now - entry.at > this.ttlMs) {
        this.seen.delete(keyId(check.key))
        continue
      }
      const [spent, wanted] =
        check.measure === 'cost' ? [entry.cost, need.cost] : check.measure === 'tokens' ? [entry.tokens, need.tokens] : [entry.executions, 1n]
      if (!fitsLimit(spent, wanted, check.limit)) return { ...check, current: spent }
    }
    return null
  }

  /** Forgets everything (after refreshCounters, which may lower counters). */
  clear(): void {
    this.seen.clear()
  }
}
