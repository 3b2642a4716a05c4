/**
 * The budget pipeline's refusals and failures: a hard limit refused the call
 * (BudgetExceededError), the tenant is inactive (TenantInactiveError), or admission could not decide
 * (AdmissionError, fail mode closed).
 */
import { LlmTenantError } from '../foundation/errors.js'
import { redactError } from '../foundation/redact.js'
import type { Decimal } from '../foundation/money.js'
import type { RateLimitKey, RateMeasure, RateWindow } from '../config/rate-limits.js'
import type { LimitSource } from '../rate-limits/keys.js'

/** Limit types whose figures are money (Decimal dollars). */
export type CostLimitType = 'dailyCost' | 'monthlyCost'
/** Limit types whose figures are counts (tokens, executions, calls in flight). */
export type CountLimitType = 'dailyTokens' | 'monthlyTokens' | 'dailyExecutions' | 'monthlyExecutions' | 'maxConcurrent'

/** What a budget refusal reports, typed by its limit: `Decimal` dollars for cost limits, numbers for the rest. */
export type BudgetFigures = { limitType: CostLimitType; limit: Decimal; current: Decimal } | { limitType: CountLimitType; limit: number; current: number }

export interface BudgetExceededDetails {
  /** `api_key`: the limit of the tenant API key the call was made with (`apiKeyId`). */
  scope: 'tenant' | 'global' | 'agent' | 'api_key'
  tenantId: string | null
  /** The key whose own limit refused (scope `api_key`); null otherwise. */
  apiKeyId?: string | null
  agentType: string | null
  /** When the period of the refusing limit resets (its next day or month in the configured zone); null for maxConcurrent. */
  retryAfter: Date | null
  /** Whole seconds from the refusal until `retryAfter` (rounded up, at least 1); null for maxConcurrent. */
  retryAfterSeconds: number | null
}

/**
 * A hard limit refused the call before the provider was contacted. `limitType` discriminates the
 * figures: `if (err.limitType === 'dailyCost') err.limit.minus(err.current)` is a Decimal, the
 * token / execution / maxConcurrent figures are numbers.
 */
class BudgetExceeded extends LlmTenantError {
  readonly scope: 'tenant' | 'global' | 'agent' | 'api_key'
  readonly apiKeyId: string | null
  readonly limitType: CostLimitType | CountLimitType
  /** Decimal dollars for cost limits, a number otherwise. */
  readonly limit: Decimal | number
  /** Usage at refusal time: settled + reserved by calls in flight (same unit as `limit`). */
  readonly current: Decimal | number
  readonly tenantId: string | null
  readonly agentType: string | null
  readonly retryAfter: Date | null
  readonly retryAfterSeconds: number | null

  constructor(details: BudgetExceededDetails & BudgetFigures) {
    const isCost = details.limitType === 'dailyCost' || details.limitType === 'monthlyCost'
    const fmt = (v: Decimal | number) => (isCost ? `$${(v as Decimal).toFixed()}` : String(v))
    const who =
      details.scope === 'global'
        ? 'global budget'
        : details.scope === 'api_key'
          ? `API key ${details.apiKeyId} of tenant "${details.tenantId}"`
          : details.scope === 'agent'
            ? `agent "${details.agentType}" budget${details.tenantId ? ` of tenant "${details.tenantId}"` : ' (all tenants)'}`
            : `tenant "${details.tenantId}"`
    const resets = details.retryAfter ? `; resets ${details.retryAfter.toISOString()}` : ''
    super(
      'BUDGET_EXCEEDED',
      `Budget exceeded: ${who} ${details.limitType} limit ${fmt(details.limit)} would be exceeded (current ${fmt(details.current)}; agent ${details.agentType ?? 'none'}${resets})`,
    )
    this.name = 'BudgetExceededError'
    this.scope = details.scope
    this.apiKeyId = details.apiKeyId ?? null
    this.limitType = details.limitType
    this.limit = details.limit
    this.current = details.current
    this.tenantId = details.tenantId
    this.agentType = details.agentType
    this.retryAfter = details.retryAfter
    this.retryAfterSeconds = details.retryAfterSeconds
  }
}

/** A hard budget refusal: the class's fields, with `limit` / `current` typed by `limitType`. */
export type BudgetExceededError = BudgetExceeded & BudgetFigures
// The class under the public name, typed so that `instanceof` narrows to the discriminated union.
export const BudgetExceededError = BudgetExceeded as unknown as {
  new (details: BudgetExceededDetails & BudgetFigures): BudgetExceededError
  readonly prototype: BudgetExceededError
}

/** The tenant is deactivated: its calls are refused. */
export { TenantInactiveError } from '../tenant/errors.js'

/**
 * Admission could not decide (database error, resolver threw) and the fail mode is 'closed':
 * the call is refused rather than silently admitted.
 */
export class AdmissionError extends LlmTenantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADMISSION_FAILED', message)
    // The cause is kept for diagnosis, redacted like the message: it may be an app callback's error
    // quoting a row with the tenant's key, or a driver error carrying request data.
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = redactError(options.cause)
  }
}

export interface RateLimitDetails {
  scope: 'tenant' | 'global' | 'agent' | 'api_key'
  tenantId: string | null
  /** The key whose own rate limit refused (scope `api_key`); null otherwise. */
  apiKeyId?: string | null
  agentType: string | null
  /** The limit's name, e.g. `requestsPerMinute`. */
  name: RateLimitKey
  window: RateWindow
  /** What the window counts. */
  limitType: RateMeasure
  /** Requests or tokens per window. */
  limit: number
  /** Where the limit came from (call override, resolver, tenant, plan, global). */
  source: LimitSource
  /**
   * The first moment a retry of the same call can pass this window, in whole milliseconds (rounded
   * up); null when it never can (a call larger than the whole window, or a limit of 0).
   */
  retryAfterMs: number | null
  /** now + retryAfterMs; null with it. */
  resetsAt: Date | null
}

/**
 * A rate window refused the call before the provider was contacted (distinct from a budget: a
 * rate limit frees up within its window). With several windows refusing, the one with the longest
 * wait is named: only after it can every window pass.
 */
export class RateLimitExceededError extends LlmTenantError {
  readonly scope: RateLimitDetails['scope']
  readonly tenantId: string | null
  readonly apiKeyId: string | null
  readonly agentType: string | null
  /** The limit's name, e.g. `requestsPerMinute` (`name` is the error's class name). */
  readonly limitName: RateLimitKey
  readonly window: RateWindow
  readonly limitType: RateMeasure
  readonly limit: number
  readonly source: LimitSource
  readonly retryAfterMs: number | null
  readonly resetsAt: Date | null

  constructor(d: RateLimitDetails) {
    const who =
      d.scope === 'global'
        ? 'global rate limit'
        : d.scope === 'api_key'
          ? `API key ${d.apiKeyId} of tenant "${d.tenantId}"`
          : d.scope === 'agent'
            ? `agent "${d.agentType}" rate limit${d.tenantId ? ` of tenant "${d.tenantId}"` : ''}`
            : `tenant "${d.tenantId}"`
    const when = d.retryAfterMs === null ? 'the call is larger than the whole window' : `retry after ${d.retryAfterMs} ms`
    super('RATE_LIMITED', `Rate limit exceeded: ${who} ${d.name} ${d.limit} (${d.limitType} per ${d.window}; ${when}; agent ${d.agentType ?? 'none'})`)
    this.name = 'RateLimitExceededError'
    this.scope = d.scope
    this.apiKeyId = d.apiKeyId ?? null
    this.tenantId = d.tenantId
    this.agentType = d.agentType
    this.limitName = d.name
    this.window = d.window
    this.limitType = d.limitType
    this.limit = d.limit
    this.source = d.source
    this.retryAfterMs = d.retryAfterMs
    this.resetsAt = d.resetsAt
  }
}
