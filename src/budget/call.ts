/**
 * The call step: what a tracked call asks for (TrackCall, validated before anything else happens),
 * and what the function inside `track()` sees — the execution id, the tenant, and `reportUsage`,
 * which it calls with the provider's figures (as soon as they are known; again to replace them,
 * e.g. as a stream progresses). If it never reports, the call is charged its reservation —
 * forgetting to report can never become a budget bypass.
 */
import type { BudgetOptions } from '../config/budgets.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { MAX_NANOS, nanosToUsd, usdToNanos, type UsdInput } from '../foundation/money.js'
import type { UsageColumns } from '../ledger/record.js'
import { assertIdentifier, assertQuery, assertTokenCount, toMetadataJson, type JsonValue } from '../foundation/validation.js'

export interface TrackCall {
  agentType: string
  model: string
  provider?: string | null
  /** The reservation: the most this call may cost / use. Default `budgets.defaultEstimate` ($0 and 0 tokens unless set). */
  estimate?: { cost?: UsdInput; tokens?: number }
  traceId?: string | null
  parentId?: string | null
  /**
   * The tenant API key the call is made with (`verifyApiKey(...).key.id`): recorded on the ledger
   * row, and the key's own limits apply besides the tenant's.
   */
  apiKeyId?: string | null
  metadata?: Record<string, unknown> | null
  signal?: AbortSignal
}

/** A TrackCall validated and converted to storage units. */
export interface ValidatedCall {
  agentType: string
  model: string
  provider: string | null
  estimateCost: bigint
  estimateTokens: bigint
  traceId: string | null
  parentId: string | null
  apiKeyId: string | null
  /** Validated and redacted: a refusal row carries it too. */
  metadata: JsonValue | null
}

const TRACK_KEYS = new Set(['agentType', 'model', 'provider', 'estimate', 'traceId', 'parentId', 'apiKeyId', 'metadata', 'signal'])

/** Validates a call completely (bad input writes nothing) and applies the estimate defaults and caps. */
export function validateCall(call: TrackCall, budgets: BudgetOptions): ValidatedCall {
  if (typeof call !== 'object' || call === null) throw new InvalidArgumentError('call', '{ agentType, model, estimate? }', call)
  for (const key of Object.keys(call)) {
    if (!TRACK_KEYS.has(key)) throw new InvalidArgumentError(`call.${key}`, [...TRACK_KEYS].join(', '), key)
  }
  const estimate = call.estimate ?? {}
  assertQuery(estimate, ['cost', 'tokens'], 'call.estimate')
  const defaults = budgets.defaultEstimate
  const tokens = estimate.tokens === undefined ? defaults.tokens : assertTokenCount(estimate.tokens, 'call.estimate.tokens')
  const cap = budgets.maxReservation
  const min = (a: bigint, b: bigint | null) => (b !== null && b < a ? b : a)
  const provider = call.provider === undefined || call.provider === null ? null : assertIdentifier(call.provider, 'call.provider', 255)
  for (const field of ['traceId', 'parentId', 'apiKeyId'] as const) {
    const v = call[field]
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.length === 0 || v.length > 191)) {
      throw new InvalidArgumentError(`call.${field}`, 'a non-empty string of at most 191 characters, or null', v)
    }
  }
  return {
    agentType: assertIdentifier(call.agentType, 'call.agentType', 255),
    model: assertIdentifier(call.model, 'call.model', 255),
    provider,
    estimateCost: min(estimate.cost === undefined ? defaults.cost : usdToNanos(estimate.cost, 'call.estimate.cost'), cap.cost),
    estimateTokens: min(BigInt(tokens), cap.tokens),
    traceId: call.traceId ?? null,
    parentId: call.parentId ?? null,
    apiKeyId: call.apiKeyId ?? null,
    metadata: toMetadataJson(call.metadata, 'call.metadata'),
  }
}

/** Resolves after one full turn of the event loop (timers and I/O get to run). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export interface UsageReport {
  inputTokens?: number
  outputTokens?: number
  cachedInputTokens?: number
  /** Default inputTokens + outputTokens. */
  totalTokens?: number
  inputCost?: UsdInput
  outputCost?: UsdInput
  /** The model that actually answered, when it differs from the one admitted (fallbacks). */
  model?: string
  /** Merged into the execution's metadata at settle (credential-shaped keys redacted). */
  metadata?: Record<string, unknown>
}

export interface NormalizedUsage extends UsageColumns {
  model?: string
  metadata?: Record<string, unknown>
}

export interface CallContext {
  readonly executionId: string
  readonly tenantId: string | null
  readonly agentType: string
  /** Aborted when the caller's signal aborts. */
  readonly signal?: AbortSignal
  reportUsage(usage: UsageReport): void
}

const USAGE_KEYS = new Set(['inputTokens', 'outputTokens', 'cachedInputTokens', 'totalTokens', 'inputCost', 'outputCost', 'model', 'metadata'])

export function normalizeUsage(usage: UsageReport): NormalizedUsage {
  if (typeof usage !== 'object' || usage === null) throw new InvalidArgumentError('usage', 'an object with token counts and costs', usage)
  for (const key of Object.keys(usage)) {
    if (!USAGE_KEYS.has(key)) throw new InvalidArgumentError(`usage.${key}`, [...USAGE_KEYS].join(', '), key)
  }
  const inputTokens = assertTokenCount(usage.inputTokens ?? 0, 'usage.inputTokens')
  const outputTokens = assertTokenCount(usage.outputTokens ?? 0, 'usage.outputTokens')
  const inputCostNanos = usdToNanos(usage.inputCost ?? 0, 'usage.inputCost')
  const outputCostNanos = usdToNanos(usage.outputCost ?? 0, 'usage.outputCost')
  // Each cost may be valid while their sum is not: such a report could never settle (the ledger's
  // BIGINT total overflows on every retry), so it is refused here, when the caller reports it.
  if (inputCostNanos + outputCostNanos > MAX_NANOS) {
    throw new InvalidArgumentError('usage.outputCost', `a cost whose sum with usage.inputCost is at most $${nanosToUsd(MAX_NANOS).toFixed()}`, usage.outputCost)
  }
  return {
    inputTokens,
    outputTokens,
    cachedInputTokens: assertTokenCount(usage.cachedInputTokens ?? 0, 'usage.cachedInputTokens'),
    totalTokens: assertTokenCount(usage.totalTokens ?? inputTokens + outputTokens, 'usage.totalTokens'),
    inputCostNanos,
    outputCostNanos,
    totalCostNanos: inputCostNanos + outputCostNanos,
    model: usage.model === undefined ? undefined : assertIdentifier(usage.model, 'usage.model', 255),
    metadata: usage.metadata,
  }
}

/** How a thrown error ends the execution in the ledger. */
export function statusOfError(err: unknown): 'cancelled' | 'timeout' | 'error' {
  const e = err as { name?: string; code?: string } | null
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR' || e?.name === 'APIUserAbortError') return 'cancelled'
  if (e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT' || e?.name === 'APIConnectionTimeoutError') return 'timeout'
  return 'error'
}
