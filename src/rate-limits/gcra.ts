/**
 * GCRA — the generic cell rate algorithm (ATM networks; redis-cell, Zulip, throttled): one stored
 * "theoretical arrival time" (TAT) per limited key, no row per request, O(1) to decide, and an exact
 * answer to "when can this succeed". A limit of N per window T admits up to N at once and refills
 * continuously at N per T (so in any window of length T at most 2N − 1 pass: N from a full bucket,
 * N − 1 refilled). Why GCRA and not a sliding window: a sliding log needs a row per request, and
 * the two-window estimate is approximate (peers' "sliding" windows have behaved as fixed windows);
 * GCRA is exact and its state is one integer.
 *
 * Exact integers on a nanosecond clock: the emission interval is I = floor(T / N) ns and the
 * capacity C = N × I, so a burst admits exactly N (k × I <= N × I ⇔ k <= N) whatever T / N is; the
 * sustained rate is off by less than one part in I (I >= 86 µs for the largest limits). A call
 * costing c (1 request, or its estimated tokens) is admitted iff
 *   newTAT − now <= C   with   newTAT = max(TAT, now) + c × I,
 * and when it is not, the first instant it could be is TAT + c × I − C. A cost above N can never
 * fit (the call is larger than a whole window).
 */
import { WINDOW_NS, type RateWindow } from '../config/rate-limits.js'

export interface Pace {
  /** ns per unit of cost. */
  interval: bigint
  /** ns of debt the key may carry: limit × interval. */
  capacity: bigint
}

/** The pace of a limit of `limit` per `window`; null when the limit is 0 (nothing ever fits). */
export function paceOf(limit: bigint, window: RateWindow): Pace | null {
  if (limit <= 0n) return null
  const interval = WINDOW_NS[window] / limit
  return { interval, capacity: interval * limit }
}

export interface RateDecision {
  fits: boolean
  /** The TAT to store when it fits. */
  tat: bigint
  /** ns until a retry can fit (0 when it fits now); null when it never can (cost above the limit, or a limit of 0). */
  retryAfterNs: bigint | null
}

/**
 * The TAT under the current limit. What a key owes is time (TAT − now); under a different limit
 * that time means a different number of requests or tokens, so a TAT stored under `storedLimit`
 * is rescaled to keep the units used: owed × stored ÷ limit, at most a full window. A raised limit
 * (a plan upgrade) then admits at once what it adds, and a lowered one counts what was used.
 */
function effectiveTat(tat: bigint, now: bigint, storedLimit: bigint, limit: bigint, window: RateWindow): bigint {
  if (storedLimit <= 0n || storedLimit === limit || tat <= now || limit <= 0n) return tat
  const pace = paceOf(limit, window) as Pace
  const owed = ((tat - now) * storedLimit) / limit
  return now + (owed < pace.capacity ? owed : pace.capacity)
}

/** Decides one key for a cost at `now` (ns), given its stored TAT (computed under `storedLimit`). */
export function decide(stored: bigint, now: bigint, cost: bigint, limit: bigint, window: RateWindow, storedLimit = limit): RateDecision {
  const pace = paceOf(limit, window)
  const tat = effectiveTat(stored, now, storedLimit, limit, window)
  if (!pace || cost > limit) return { fits: false, tat, retryAfterNs: null }
  const next = (tat > now ? tat : now) + cost * pace.interval
  if (next - now <= pace.capacity) return { fits: true, tat: next, retryAfterNs: 0n }
  return { fits: false, tat, retryAfterNs: next - pace.capacity - now }
}

/** What a key has left at `now`: units of cost that fit, and when it is full again. */
export function remainingAt(stored: bigint, now: bigint, limit: bigint, window: RateWindow, storedLimit = limit): { remaining: bigint; resetsAtNs: bigint } {
  const pace = paceOf(limit, window)
  if (!pace) return { remaining: 0n, resetsAtNs: now }
  const tat = effectiveTat(stored, now, storedLimit, limit, window)
  const debt = tat > now ? tat - now : 0n
  const room = pace.capacity - debt
  return { remaining: room > 0n ? room / pace.interval : 0n, resetsAtNs: tat > now ? tat : now }
}

/** A Date on the nanosecond clock → ns; and back (ms resolution, rounded up: never before the instant). */
export const toNs = (d: Date): bigint => BigInt(d.getTime()) * 1_000_000n
export const nsToDate = (ns: bigint): Date => new Date(Number((ns + 999_999n) / 1_000_000n))
/** Whole milliseconds, rounded up: a retry after this many ms can succeed. */
export const nsToMsCeil = (ns: bigint): number => Number((ns + 999_999n) / 1_000_000n)
