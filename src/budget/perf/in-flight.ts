/**
 * Refusing a call over `maxConcurrent` without a database round trip.
 *
 * Every call this process has admitted holds one execution on its tenant's in-flight counter row
 * until it settles. So while this process alone has `limit` calls of a tenant in flight, the
 * database's in-flight figure is at least `limit` and the next call would be refused there too —
 * refusing it here is always right. Like SpentCache, this can refuse, never admit: with fewer local
 * calls in flight (other processes hold the rest) the database decides.
 *
 * Admissions still in progress count too, as "maybe": when this process's calls in flight plus
 * those being admitted could fill the limit, a new call waits for one of those admissions to end
 * and looks again — refused here if they filled it, sent to the database if one was refused there.
 * So a burst of 64 calls at a limit of 8 costs 8 admissions, not 64 (each refused one would also
 * read the counters and check for expired holds, queued on the same connection or pool as every
 * other tenant's calls — the runaway tenant's first second).
 *
 * A call leaves the count when it starts to settle (the database frees its slot in that same
 * settle), so the local figure never exceeds the database's. A hold past its expiry no longer
 * counts: another process's sweep may have released its slot.
 */
import { keyId } from '../../ledger/counters/keys.js'
import type { LimitCheck } from '../../ledger/counters/fits.js'

export type Refusal = LimitCheck & { current: bigint }

/** One admission passing through the gate: exactly one of `admitted` / `refused` is called. */
export interface AdmissionTicket {
  /** The database admitted the call: it counts until the returned `leave` is called (idempotent). */
  admitted(executionId: string, expiresAt: Date): () => void
  /** The admission did not take a slot (refused, failed). */
  refused(): void
}

interface Slots {
  /** Execution id → hold expiry (ms) of this process's admitted calls in flight. */
  held: Map<string, number>
  admitting: number
  /** Resolved (and replaced) whenever `held` or `admitting` changes. */
  changed: { promise: Promise<void>; resolve(): void } | null
}

const OPEN: AdmissionTicket = { admitted: () => () => undefined, refused: () => undefined }

export class LocalInFlight {
  private readonly slots = new Map<string, Slots>()

  constructor(private readonly clock: () => number = Date.now) {}

  /**
   * Either the hard maxConcurrent limit this process's own calls in flight already fill (refuse
   * the call), or a ticket for the database admission. Calls without such a limit pass at once.
   */
  async enter(policy: { readonly checks: readonly LimitCheck[] }): Promise<{ refusal: Refusal } | { ticket: AdmissionTicket }> {
    const check = policy.checks.find((c) => c.enforcement === 'hard' && c.limitType === 'maxConcurrent')
    if (!check) return { ticket: OPEN }
    const id = keyId(check.key)
    for (;;) {
      const s = this.slotsOf(id)
      const live = this.live(s)
      if (live >= check.limit) {
        this.forgetIfIdle(id, s)
        return { refusal: { ...check, current: live } }
      }
      if (live + BigInt(s.admitting) < check.limit) {
        s.admitting++
        return { ticket: this.ticket(id, s) }
      }
      s.changed ??= deferred()
      await s.changed.promise
    }
  }

  private ticket(id: string, s: Slots): AdmissionTicket {
    let done = false
    const finish = () => {
      if (done) return false
      done = true
      s.admitting--
      return true
    }
    return {
      admitted: (executionId, expiresAt) => {
        if (!finish()) return () => undefined
        s.held.set(executionId, expiresAt.getTime())
        this.notify(s)
        let left = false
        return () => {
          if (left) return
          left = true
          s.held.delete(executionId)
          this.notify(s)
          this.forgetIfIdle(id, s)
        }
      },
      refused: () => {
        if (!finish()) return
        this.notify(s)
        this.forgetIfIdle(id, s)
      },
    }
  }

  private slotsOf(id: string): Slots {
    let s = this.slots.get(id)
    if (!s) this.slots.set(id, (s = { held: new Map(), admitting: 0, changed: null }))
    return s
  }

  private live(s: Slots): bigint {
    const now = this.clock()
    let n = 0n
    for (const expiresAt of s.held.values()) if (expiresAt > now) n++
    return n
  }

  private notify(s: Slots): void {
    const waiting = s.changed
    s.changed = null
    waiting?.resolve()
  }

  private forgetIfIdle(id: string, s: Slots): void {
    if (s.held.size === 0 && s.admitting === 0 && s.changed === null && this.slots.get(id) === s) this.slots.delete(id)
  }
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
