/**
 * Outcomes whose settle failed (database unreachable through every immediate retry) are kept in
 * memory and settled later, so a call's real usage is not lost when the database comes back.
 *
 * Why this is safe: settle is idempotent (the `running → final` ledger update is its gate), and a
 * settle that arrives after the hold expired is still accepted once (the late path turns the
 * HoldExpiredError timeout into the real outcome and adds only its usage). So a retry can never
 * count a call twice, however often it runs and whichever process expires the hold.
 *
 * Retries run on an unref'd timer with exponential backoff (1 s doubling to 60 s), and first thing
 * in `releaseExpiredHolds()` — so the sweep settles this process's outcomes before it would turn
 * their rows into $0 timeouts. What this cannot cover: the process exiting while outcomes are
 * pending (they live in memory); `settle_failed` events carry the outcome for apps that want to
 * persist it elsewhere.
 */

export interface PendingSettle {
  executionId: string
  /** Settles the outcome; resolves when it was written (or had already been). */
  settle: () => Promise<void>
}

const FIRST_DELAY_MS = 1_000
const MAX_DELAY_MS = 60_000
/** Bounds memory if the database stays down under load; the oldest outcome is given up first. */
const MAX_PENDING = 10_000

export class PendingSettles {
  private readonly entries = new Map<string, PendingSettle>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private delayMs = FIRST_DELAY_MS
  private flushing: Promise<number> | undefined

  constructor(private readonly onGivenUp: (executionId: string) => void) {}

  get size(): number {
    return this.entries.size
  }

  add(entry: PendingSettle): void {
    this.entries.set(entry.executionId, entry)
    if (this.entries.size > MAX_PENDING) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
      this.onGivenUp(oldest)
    }
    this.schedule()
  }

  /**
   * Tries every pending settle once; returns how many were written. Concurrent callers share one
   * pass. Entries that fail again stay pending and the timer backs off.
   */
  flush(): Promise<number> {
    if (this.entries.size === 0) return Promise.resolve(0)
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined))
    return this.flushing
  }

  private async flushOnce(): Promise<number> {
    let written = 0
    let failures = 0
    for (const entry of [...this.entries.values()]) {
      try {
        await entry.settle()
        this.entries.delete(entry.executionId)
        written++
      } catch {
        // Kept. A pooled connection broken by the outage fails once; three failures in one pass mean
        // the database is still unreachable, and the rest would fail the same way.
        if (++failures >= 3) break
      }
    }
    if (this.entries.size === 0) {
      this.delayMs = FIRST_DELAY_MS
      if (this.timer) clearTimeout(this.timer)
      this.timer = undefined
    } else {
      this.delayMs = Math.min(MAX_DELAY_MS, this.delayMs * 2)
      this.schedule()
    }
    return written
  }

  private schedule(): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.delayMs)
    this.timer.unref?.()
  }
}
