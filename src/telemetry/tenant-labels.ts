/**
 * The tenant attribute's value on metrics, bounded whatever the number of tenants. With an
 * allowlist, the listed tenants keep their id and every other one is `other`. With `topN`, the
 * tenants with the most spend seen by this process get their id, the rest `other`: the first N
 * tenants with spend get a label at once; every 1,000 settled calls (or minute) the ranking is
 * revisited, and a tenant whose spend is more than twice the smallest labeled spend takes that
 * tenant's label.
 *
 * Why topN is bounded in series, not only in memory: a cumulative exporter (Prometheus) keeps every
 * series it has ever seen, so a top-N set that kept changing would still grow the series count
 * without bound. Here a tenant that gains its own label keeps it until it is displaced, and at
 * most 2·N tenants ever get one in the process's lifetime; after that the set is frozen. So a
 * metric has at most 2·N + 2 tenant values (the ids, `other`, `none`) — the 50,000-tenant test
 * checks it. Spend is tracked for the candidates only (a bounded map, halved when full: the tenants
 * with the least spend are forgotten first), so memory is bounded too.
 */
import { NO_TENANT, OTHER_TENANTS } from './names.js'
import type { ResolvedTelemetryOptions } from './options.js'

/** Candidates whose spend is tracked, per label of topN (never fewer than 256). */
const CANDIDATES_PER_LABEL = 8
/** The labels are revisited every this many settled calls with spend, or this often. */
const RERANK_EVERY_CALLS = 1000
const RERANK_EVERY_MS = 60_000

export class TenantLabels {
  private readonly allowlist: ReadonlySet<string> | null
  private readonly topN: number
  /** Tenants with their own label (topN), by spend in nano-USD. */
  private readonly labeled = new Map<string, number>()
  /** Tenants competing for a label, by spend in nano-USD (bounded). */
  private readonly candidates = new Map<string, number>()
  private readonly maxCandidates: number
  /** Labels handed out so far; at 2·N the set is frozen (bounded series). */
  private granted = 0
  private minId: string | null = null
  /** Spend observations so far, and when the labels were last revisited. */
  private observed = 0
  private rankedAt = Date.now()

  constructor(mode: ResolvedTelemetryOptions['tenant']['metrics']) {
    this.allowlist = mode !== 'off' && 'allowlist' in mode ? mode.allowlist : null
    this.topN = mode !== 'off' && 'topN' in mode ? mode.topN : 0
    this.maxCandidates = Math.max(256, this.topN * CANDIDATES_PER_LABEL)
  }

  /** Whether metrics carry a tenant attribute at all. */
  get enabled(): boolean {
    return this.allowlist !== null || this.topN > 0
  }

  /** The metric value for a call's tenant: its id, `other` or `none`. */
  label(tenantId: string | null): string {
    if (tenantId === null) return NO_TENANT
    if (this.allowlist) return this.allowlist.has(tenantId) ? tenantId : OTHER_TENANTS
    return this.labeled.has(tenantId) ? tenantId : OTHER_TENANTS
  }

  /** Feeds topN: a settled call's cost (nano-USD) for its tenant. */
  observeSpend(tenantId: string | null, nanos: bigint): void {
    if (this.topN === 0 || tenantId === null || nanos <= 0n) return
    if (this.granted >= 2 * this.topN) return // frozen: nothing can change the labels, so spend need not be tracked any more
    const add = Number(nanos)
    const own = this.labeled.get(tenantId)
    if (own !== undefined) {
      this.labeled.set(tenantId, own + add)
      if (tenantId === this.minId) this.minId = null // its spend grew: the minimum may be another tenant now
    } else {
      const spend = (this.candidates.get(tenantId) ?? 0) + add
      if (this.labeled.size < this.topN) this.promote(tenantId, spend)
      else {
        this.candidates.set(tenantId, spend)
        if (this.candidates.size > this.maxCandidates) this.forgetSmallest()
      }
    }
    if (++this.observed % RERANK_EVERY_CALLS === 0 || Date.now() - this.rankedAt > RERANK_EVERY_MS) this.rerank()
  }

  /**
   * Hands the labels of the smallest labeled spenders to candidates with more than twice their
   * spend — on accumulated evidence, not per call, so a burst of one-off tenants early on cannot
   * use up the 2·N labels before the real heavy spenders have shown.
   */
  private rerank(): void {
    this.rankedAt = Date.now()
    const ranked = [...this.candidates].sort((a, b) => b[1] - a[1])
    for (const [id, spend] of ranked) {
      const min = this.minimum()
      // Twice, not just more: tenants of similar spend must not trade the label back and forth.
      if (this.granted >= 2 * this.topN || !min || spend <= 2 * min.spend) return
      this.labeled.delete(min.id)
      this.candidates.set(min.id, min.spend) // it may come back while labels remain
      this.promote(id, spend)
    }
  }

  private promote(tenantId: string, spend: number): void {
    this.candidates.delete(tenantId)
    this.labeled.set(tenantId, spend)
    this.granted++
    this.minId = null
    if (this.granted >= 2 * this.topN) this.candidates.clear()
  }

  /** The labeled tenant with the least spend (cached until the labels or its spend change). */
  private minimum(): { id: string; spend: number } | null {
    if (this.minId === null) {
      let best: [string, number] | null = null
      for (const entry of this.labeled) if (best === null || entry[1] < best[1]) best = entry
      this.minId = best ? best[0] : null
    }
    return this.minId === null ? null : { id: this.minId, spend: this.labeled.get(this.minId) as number }
  }

  /** Halves the candidates, keeping those with the most spend (amortised: one sort per maxCandidates / 2 new tenants). */
  private forgetSmallest(): void {
    const kept = [...this.candidates].sort((a, b) => b[1] - a[1]).slice(0, Math.floor(this.maxCandidates / 2))
    this.candidates.clear()
    for (const [id, spend] of kept) this.candidates.set(id, spend)
  }
}
