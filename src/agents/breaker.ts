/**
 * Circuit breakers per (tenant, agent, model), in process memory: opens after `errors` failures
 * within `withinSeconds`, stays open `cooldownSeconds`, then lets exactly one probe through
 * (half-open); the probe's success closes it, its failure re-opens it. Keys include the tenant, so
 * one tenant's failures never open another tenant's breaker. The map is bounded (LRU).
 */
export interface BreakerOptions {
  errors: number
  withinSeconds: number
  cooldownSeconds: number
}

interface BreakerState {
  failures: number[]
  openedAt: number | null
  probing: boolean
}

export class CircuitBreakers {
  private readonly states = new Map<string, BreakerState>()
  constructor(private readonly maxEntries = 10_000) {}

  private key(tenantId: string | null, agentType: string, model: string): string {
    return JSON.stringify([tenantId, agentType, model])
  }

  private state(key: string): BreakerState {
    let s = this.states.get(key)
    if (!s) {
      s = { failures: [], openedAt: null, probing: false }
      this.states.set(key, s)
      while (this.states.size > this.maxEntries) this.states.delete(this.states.keys().next().value as string)
    }
    return s
  }

  /** 'closed' | 'open' | 'half-open' (this caller holds the single probe). */
  acquire(tenantId: string | null, agentType: string, model: string, options: BreakerOptions, now: number): 'closed' | 'open' | 'half-open' {
    const s = this.state(this.key(tenantId, agentType, model))
    if (s.openedAt === null) return 'closed'
    if (now < s.openedAt + options.cooldownSeconds * 1000 || s.probing) return 'open'
    s.probing = true
    return 'half-open'
  }

  success(tenantId: string | null, agentType: string, model: string): void {
    const s = this.state(this.key(tenantId, agentType, model))
    s.failures = []
    s.openedAt = null
    s.probing = false
  }

  failure(tenantId: string | null, agentType: string, model: string, options: BreakerOptions, now: number): void {
    const s = this.state(this.key(tenantId, agentType, model))
    if (s.probing || s.openedAt !== null) {
      s.openedAt = now
      s.probing = false
      return
    }
    s.failures = s.failures.filter((t) => t > now - options.withinSeconds * 1000)
    s.failures.push(now)
    if (s.failures.length >= options.errors) s.openedAt = now
  }

  /** Releases a half-open probe slot that ended without a verdict (e.g. refused by budget). */
  releaseProbe(tenantId: string | null, agentType: string, model: string): void {
    this.state(this.key(tenantId, agentType, model)).probing = false
  }
}
