/**
 * Rate-limit keys and checks: which `llm_rate_limits` rows one call is decided on. A key is
 * [scope, tenant ('' = none), agent ('' = none), measure, window] — one row per limited key.
 */
import type { Enforcement } from '../config/limits.js'
import type { RateLimitKey, RateMeasure, RateWindow } from '../config/rate-limits.js'

/** `api_key`: a tenant API key's own limits (the key's second part is the key id). */
export type RateScope = 'tenant' | 'tenant_agent' | 'global' | 'global_agent' | 'api_key'
export type RateKey = readonly [scope: RateScope, tenantId: string, agentType: string, measure: RateMeasure, window: RateWindow]

/** Where an effective value came from (budget status and rate-limit status report it). */
export type LimitSource = 'override' | 'resolver' | 'tenant' | 'plan' | 'global' | 'api_key'

/** One rate limit that applies to a call. */
export interface RateCheck {
  scope: RateScope
  key: RateKey
  /** e.g. `requestsPerMinute`. */
  name: RateLimitKey
  measure: RateMeasure
  window: RateWindow
  limit: bigint
  enforcement: Enforcement
  source: LimitSource
  /** The tenant of an `api_key` check. */
  tenantId?: string
}

export function rateKeyId(key: RateKey): string {
  return key.join('\u0000')
}

export function compareRateKeys(a: RateKey, b: RateKey): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1
    if (a[i] > b[i]) return 1
  }
  return 0
}
