import type { Decimal, UsdInput } from '../foundation/money.js'
import type { ResolvedPeriod } from '../foundation/periods.js'

export const EXECUTION_STATUSES = ['running', 'success', 'error', 'timeout', 'cancelled', 'refused'] as const
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number]
/**
 * Statuses that consume nothing and count as no execution: `running` (counted when it settles) and
 * `refused` (a call refused before the provider was contacted — budget, rate limit, inactive
 * tenant, open circuit breaker, missing key). Refusal is recorded as this status at refusal time;
 * nothing ever infers it from an error class name (an admitted call may fail with any error).
 */
export const UNCOUNTED_STATUSES: readonly ExecutionStatus[] = ['running', 'refused']
/** SQL list of UNCOUNTED_STATUSES, for `"status" NOT IN (…)`. */
export const UNCOUNTED_STATUSES_SQL = UNCOUNTED_STATUSES.map((s) => `'${s}'`).join(', ')

/** Statuses counted as failures by `failedExecutions`. */
export const FAILED_STATUSES: readonly ExecutionStatus[] = ['error', 'timeout']

export type { JsonValue } from '../foundation/validation.js'
import type { JsonValue } from '../foundation/validation.js'

/** What an app (or the agent runtime) records for one provider call. */
export interface RecordExecutionInput {
  /** Execution id; generated (UUID) when omitted. Recording the same id twice is rejected by the DB. */
  id?: string
  /** The tenant's id; `null`/omitted for calls made without a tenant. */
  tenantId?: string | null
  agentType: string
  provider?: string | null
  model: string
  /** Default `success`. */
  status?: ExecutionStatus
  inputTokens?: number
  outputTokens?: number
  cachedInputTokens?: number
  /** Default inputTokens + outputTokens. */
  totalTokens?: number
  /** Dollars (Decimal, numeric string or number). Sub-nano digits round half-up to whole nano-USD. */
  inputCost?: UsdInput
  outputCost?: UsdInput
  /** Default inputCost + outputCost. */
  totalCost?: UsdInput
  durationMs?: number | null
  /** Default now (from the config clock). */
  startedAt?: Date
  /** Default: startedAt + durationMs, or now, for a finished status; null while `running`. */
  completedAt?: Date | null
  errorClass?: string | null
  errorMessage?: string | null
  traceId?: string | null
  parentId?: string | null
  /** The tenant API key the call was made with (its stable id). */
  apiKeyId?: string | null
  metadata?: Record<string, unknown> | null
}

/** What a ledger row says besides its money: identity, token counts, timing, outcome, links. */
export interface ExecutionFields {
  id: string
  tenantId: string | null
  agentType: string
  provider: string | null
  model: string
  status: ExecutionStatus
  inputTokens: number
  outputTokens: number
  cachedInputTokens: number
  totalTokens: number
  durationMs: number | null
  startedAt: Date
  completedAt: Date | null
  errorClass: string | null
  errorMessage: string | null
  traceId: string | null
  parentId: string | null
  /** The tenant API key the call was made with; null = none. */
  apiKeyId: string | null
  metadata: JsonValue | null
}

/** A ledger row as the API returns it: money as `Decimal` dollars. */
export interface ExecutionRecord extends ExecutionFields {
  inputCost: Decimal
  outputCost: Decimal
  totalCost: Decimal
}

/** Usage figures for one group (a day, an agent, a model, a tenant). */
export interface UsageFigures {
  cost: Decimal
  tokens: number
  count: number
}

export interface UsageSummary {
  cost: Decimal
  tokens: number
  executions: number
  period: ResolvedPeriod
}

export interface TenantSpend {
  tenantId: string
  cost: Decimal
  tokens: number
  executions: number
}
