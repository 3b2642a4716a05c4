/**
 * What the function inside `track()` sees: the execution id, the tenant, and `reportUsage`, which
 * it calls with the provider's figures (as soon as they are known; again to replace them, e.g. as a
 * stream progresses). If it never reports, the call is charged its reservation — forgetting to
 * report can never become a budget bypass.
 */
import { InvalidArgumentError } from '../errors.js'
import { MAX_NANOS, nanosToUsd, usdToNanos, type UsdInput } from '../money/index.js'
import { assertIdentifier, assertTokenCount, type UsageColumns } from '../ledger/record.js'

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
