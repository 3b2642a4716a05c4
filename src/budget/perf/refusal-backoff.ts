/**
 * Backpressure for a tenant that keeps getting refused (the runaway tenant: an agent stuck in a
 * loop, retrying the moment it is refused).
 *
 * Why: a refusal is cheap (often no round trip at all), so a loop that retries at once turns every
 * refusal into the next call: 64 such loops keep the event loop, the pool and the CPU busy with
 * refusals and every other tenant's calls wait behind them. Delaying the refusal costs the looping
 * caller only time — a sleeping timer, no CPU — and turns a tight loop into a slow one.
 *
 * How: per tenant, refusals less than QUIET_MS apart form a streak. The first FREE refusals of a
 * streak are thrown at once (an ordinary "over budget" answer is never slowed down); after that each
 * refusal waits 1, 2, 4 … ms, capped at `maxDelayMs`. A pause of QUIET_MS ends the streak.
 * `refusalBackoffMs: 0` turns it off.
 */

const FREE = 3
const QUIET_MS = 1_000
/** Streaks tracked at once; beyond that the oldest streak is forgotten (its next refusal is free). */
const MAX_STREAKS = 10_000

interface Streak {
  count: number
  last: number
}

export class RefusalBackoff {
  private readonly streaks = new Map<string, Streak>()

  constructor(
    private readonly maxDelayMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records a refusal of `tenantId` (null = no tenant) and returns how long to hold it back (ms). */
  delayFor(tenantId: string | null): number {
    if (this.maxDelayMs <= 0) return 0
    const key = tenantId ?? ''
    const at = this.now()
    const previous = this.streaks.get(key)
    const count = previous && at - previous.last < QUIET_MS ? previous.count + 1 : 1
    this.streaks.delete(key) // re-insert: the Map's order is then least recently refused first
    this.streaks.set(key, { count, last: at })
    if (this.streaks.size > MAX_STREAKS) this.streaks.delete(this.streaks.keys().next().value as string)
    if (count <= FREE) return 0
    return Math.min(this.maxDelayMs, 2 ** Math.min(30, count - FREE - 1))
  }
}

/** Waits `ms`, or less if the call is aborted meanwhile (the refusal is thrown either way). */
export function holdBack(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
