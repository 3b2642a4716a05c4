/**
 * The names the library emits under: the OpenTelemetry GenAI semantic conventions for what they
 * cover (spans of agent runs and provider calls, the two client histograms), and `llm_tenant.*` for
 * what is ours (tenants, executions, cost, refusals, holds). Operators query these names, so they
 * are part of the public contract (docs/observability.md lists them) and change only with a
 * semconv version bump noted in the changelog.
 *
 * The GenAI conventions are still "Development" status; we follow them as of semantic conventions
 * v1.41.0 (`gen_ai.provider.name`, not the older `gen_ai.system`) and emit that version only — no
 * `OTEL_SEMCONV_STABILITY_OPT_IN` dual emission, since the library never emitted an older one.
 */

/** The semantic-conventions release whose GenAI spans, attributes and metrics we follow. */
export const GEN_AI_SEMCONV_VERSION = '1.41.0'
/** The instrumentation scope of every tracer and meter of the library. */
export const INSTRUMENTATION_SCOPE = 'prisma-llm-tenant'

/** GenAI semantic-convention attribute names. */
export const GEN_AI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  agentName: 'gen_ai.agent.name',
  requestModel: 'gen_ai.request.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestTemperature: 'gen_ai.request.temperature',
  requestStream: 'gen_ai.request.stream',
  responseModel: 'gen_ai.response.model',
  responseFinishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  reasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  tokenType: 'gen_ai.token.type',
  conversationId: 'gen_ai.conversation.id',
  errorType: 'error.type',
} as const

/** Our own attributes, namespaced `llm_tenant.` (Prometheus label names replace the dots with `_`). */
export const LLM_TENANT = {
  /** Opt-in (TelemetryOptions.tenantAttribute); on metrics folded by allowlist / topN. */
  tenantId: 'llm_tenant.tenant.id',
  agentType: 'llm_tenant.agent_type',
  executionId: 'llm_tenant.execution.id',
  /** The ledger's traceId of the run: with a caller-given traceId it differs from the OTel trace id. */
  traceId: 'llm_tenant.trace_id',
  executionStatus: 'llm_tenant.execution.status',
  costUsd: 'llm_tenant.cost.usd',
  reservedCostUsd: 'llm_tenant.reserved.cost.usd',
  reservedTokens: 'llm_tenant.reserved.tokens',
  refusalReason: 'llm_tenant.refusal.reason',
  limitScope: 'llm_tenant.limit.scope',
  rateLimitName: 'llm_tenant.rate_limit.name',
  retryAfterMs: 'llm_tenant.retry_after_ms',
  step: 'llm_tenant.step',
  attempt: 'llm_tenant.attempt',
  steps: 'llm_tenant.steps',
  attempts: 'llm_tenant.attempts',
  usageEstimated: 'llm_tenant.usage.estimated',
  settlePending: 'llm_tenant.settle.pending',
} as const

/** Span event names (admission, settle and refusals of a tracked call). */
export const SPAN_EVENTS = {
  admitted: 'llm_tenant.admission',
  settled: 'llm_tenant.settle',
  refused: 'llm_tenant.refusal',
} as const

/** Metric names: the two GenAI client histograms, then ours. */
export const METRICS = {
  tokenUsage: 'gen_ai.client.token.usage',
  operationDuration: 'gen_ai.client.operation.duration',
  cost: 'llm_tenant.cost',
  executions: 'llm_tenant.executions',
  refusals: 'llm_tenant.refusals',
  rateLimitRefusals: 'llm_tenant.rate_limit.refusals',
  openHolds: 'llm_tenant.holds.open',
  pendingSettles: 'llm_tenant.settles.pending',
} as const

/** `gen_ai.client.token.usage`'s explicit bucket boundaries, as the conventions specify them. */
export const TOKEN_USAGE_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
/** `gen_ai.client.operation.duration`'s explicit bucket boundaries (seconds), as the conventions specify them. */
export const OPERATION_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]

/**
 * Why a call was refused, as the `llm_tenant.refusal.reason` value: a budget's limit type
 * (`dailyCost`, `maxConcurrent`, …), or one of these.
 */
export const REFUSAL_REASONS = {
  rateLimit: 'rate_limit',
  tenantInactive: 'tenant_inactive',
  circuitOpen: 'circuit_open',
  missingApiKey: 'missing_api_key',
} as const

/** The value tenants outside the allowlist / top N share on metrics. */
export const OTHER_TENANTS = 'other'
/** The value of calls made without a tenant (multiTenancy off, `tenant: null`). */
export const NO_TENANT = 'none'
