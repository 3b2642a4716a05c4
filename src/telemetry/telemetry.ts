/**
 * LlmTelemetry: the spans and metrics of one config (every budget, runtime and HTTP handler on the
 * config shares it), over `@opentelemetry/api` only. The budget pipeline reports admission, settle
 * and refusals; the agent runtime opens the run and attempt spans and reports provider calls.
 *
 * Cost when nothing observes: spans come from the API's no-op tracer (a non-recording span per
 * call, nothing else) and attributes are built only after `span.isRecording()`; instruments are
 * created once per meter provider and the no-op meter is detected, so no attribute object is built
 * for it either. The global meter provider is looked up on every record (one property read), so an
 * SDK registered after the config was made is still used.
 */
import {
  context,
  isSpanContextValid,
  metrics,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api'
import { redactText } from '../foundation/redact.js'
import { BoundedValues, createInstruments, foldProvider, type Instruments } from './instruments.js'
import { GEN_AI, INSTRUMENTATION_SCOPE, LLM_TENANT, REFUSAL_REASONS, SPAN_EVENTS } from './names.js'
import { logTo, type LlmLogger, type ResolvedTelemetryOptions } from './options.js'
import { TenantLabels } from './tenant-labels.js'

/** What every record of a tracked call is attributed with. */
export interface CallAttributes {
  tenantId: string | null
  agentType: string
  model: string
  provider: string | null
}

/** Why a call was refused (budget/refusals maps its errors to this). */
export interface RefusalInfo {
  executionId: string
  /** A budget's limit type, or one of REFUSAL_REASONS. */
  reason: string
  scope?: string | null
  rateLimitName?: string | null
  retryAfterMs?: number | null
}

export interface SettledInfo {
  executionId: string
  status: string
  costNanos: bigint
  inputTokens: number
  outputTokens: number
  /** The settle could not be written yet (database unreachable): kept in pending settles. */
  pending: boolean
}

/** One provider call, for the GenAI client histograms. */
export interface ProviderCallInfo {
  operation: string
  provider: string
  requestModel: string
  responseModel: string | null
  seconds: number
  inputTokens: number | null
  outputTokens: number | null
  errorType: string | null
}

/**
 * @internal The spans of one agent attempt, for `LlmBudgets.trackInSpan`: a refusal is recorded on
 * `parent` (the run's span) — an attempt refused before the provider gets no `chat` span — and an
 * admitted call opens its own span with `open()` (then `span` is it).
 */
export interface AttemptSpans {
  readonly parent: Span
  open(): Span
  readonly span: Span | undefined
}

const NANOS_PER_USD = 1e9
const usd = (nanos: bigint) => Number(nanos) / NANOS_PER_USD
/** The fail-open warning (and other repeated warnings) at most this often per config and kind. */
const WARN_EVERY_MS = 10_000
/** The no-op tracer provider of the API (what the global proxy delegates to until an SDK registers). */
const NoopTracerProvider = new ProxyTracerProvider().getDelegate().constructor

/** The ledger trace id a span stands for: its OTel trace id, or null for an invalid (no-op, unparented) span. */
export function traceIdOf(span: Span | undefined): string | null {
  const sc = span?.spanContext()
  return sc && isSpanContextValid(sc) ? sc.traceId : null
}

export class LlmTelemetry {
  readonly logger: LlmLogger | undefined
  readonly tenantOnSpans: boolean
  private readonly labels: TenantLabels
  private readonly tracer: Tracer
  private readonly meterProvider: MeterProvider | undefined
  private cached: Instruments | null = null
  /** This process's admitted calls not yet settled (their holds are open). */
  private openHolds = 0
  /** The budgets of this config whose pending settles are observed (weak: a dropped budget is not kept alive). */
  private readonly pendingSources = new Set<WeakRef<{ readonly pendingSettles: number }>>()
  private readonly pendingMembers = new WeakSet<{ readonly pendingSettles: number }>()
  /** Metric values of models and agent types: the first `labelLimit` distinct ones, then `_OTHER`. */
  private readonly models: BoundedValues
  private readonly agentTypes: BoundedValues
  private readonly tracerProvider: TracerProvider
  /** When each throttled warning was last written, and how many were dropped since. */
  private readonly warned = new Map<string, { at: number; dropped: number }>()

  constructor(options: ResolvedTelemetryOptions, logger?: LlmLogger) {
    this.logger = logger
    this.tenantOnSpans = options.tenant.spans
    this.labels = new TenantLabels(options.tenant.metrics)
    this.models = new BoundedValues(options.labelLimit)
    this.agentTypes = new BoundedValues(options.labelLimit)
    // The global provider is a proxy: its tracers follow an SDK registered later.
    this.tracerProvider = options.tracerProvider ?? trace.getTracerProvider()
    this.tracer = this.tracerProvider.getTracer(INSTRUMENTATION_SCOPE)
    this.meterProvider = options.meterProvider
  }

  /**
   * Whether runs get a real trace id: an SDK's tracer provider is registered (or given), or the
   * active context carries a valid span context (an incoming `traceparent`, the app's span).
   */
  tracing(): boolean {
    const active = trace.getSpanContext(context.active())
    if (active && isSpanContextValid(active)) return true
    const provider = this.tracerProvider instanceof ProxyTracerProvider ? this.tracerProvider.getDelegate() : this.tracerProvider
    return !(provider instanceof NoopTracerProvider)
  }

  /** Whether a call's records would be seen: its span is recorded, or a meter provider records. */
  observes(span: Span | undefined): boolean {
    return span?.isRecording() === true || this.instruments() !== null
  }

  /**
   * A warning that may repeat on every call (a fail-open admission while the database is down):
   * written at most once per 10 s per `key`, with how many were dropped since the last one.
   */
  warnThrottled(key: string, fields: () => Record<string, unknown>, msg: string): void {
    if (!this.logger) return
    const now = Date.now()
    const last = this.warned.get(key)
    if (last && now - last.at < WARN_EVERY_MS) {
      last.dropped++
      return
    }
    this.warned.set(key, { at: now, dropped: 0 })
    logTo(this.logger, 'warn', { ...fields(), ...(last?.dropped ? { suppressed: last.dropped } : {}) }, msg)
  }

  /** The span calls made in the app's own span attach their events to (no-op without a context manager). */
  activeSpan(): Span | undefined {
    return trace.getActiveSpan()
  }

  /** `invoke_agent {name}`: one per agent run, a child of the app's active span. */
  startRun(agent: { name: string }): Span {
    const span = this.tracer.startSpan(`invoke_agent ${agent.name}`, { kind: SpanKind.INTERNAL })
    if (span.isRecording()) span.setAttributes({ [GEN_AI.operationName]: 'invoke_agent', [GEN_AI.agentName]: agent.name, [LLM_TENANT.agentType]: agent.name })
    return span
  }

  /** The run is prepared: the tenant's version of the agent (provider, model), the tenant, the session. */
  prepared(span: Span, agent: { provider: string; model: string }, tenantId: string | null, conversationId?: string, traceId?: string): void {
    if (!span.isRecording()) return
    span.setAttributes({ [GEN_AI.providerName]: agent.provider, [GEN_AI.requestModel]: agent.model })
    // The ledger's trace id from the start: a run that fails still says which rows are its.
    if (traceId !== undefined) span.setAttribute(LLM_TENANT.traceId, traceId)
    if (conversationId !== undefined) span.setAttribute(GEN_AI.conversationId, conversationId)
    this.tenantOnSpan(span, tenantId)
  }

  /** `chat {model}`: one per provider attempt, a child of the run's span. */
  startAttempt(
    run: Span,
    a: {
      provider: string
      model: string
      agentType: string
      tenantId: string | null
      maxTokens: number
      temperature?: number
      stream: boolean
      step: number
      attempt: number
    },
  ): Span {
    // A run that is not recorded is not sampled: its attempts would not be either.
    if (!run.isRecording()) return run
    const span = this.tracer.startSpan(`chat ${a.model}`, { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), run))
    if (span.isRecording()) {
      span.setAttributes({
        [GEN_AI.operationName]: 'chat',
        [GEN_AI.providerName]: a.provider,
        [GEN_AI.requestModel]: a.model,
        [GEN_AI.requestMaxTokens]: a.maxTokens,
        [GEN_AI.requestStream]: a.stream,
        [LLM_TENANT.agentType]: a.agentType,
        [LLM_TENANT.step]: a.step,
        [LLM_TENANT.attempt]: a.attempt,
      })
      if (a.temperature !== undefined) span.setAttribute(GEN_AI.requestTemperature, a.temperature)
      this.tenantOnSpan(span, a.tenantId)
    }
    return span
  }

  /** Runs `fn` with `span` as the active span (the SDK's HTTP spans nest under it), when it is recorded. */
  within<T>(span: Span, fn: () => Promise<T>): Promise<T> {
    return span.isRecording() ? context.with(trace.setSpan(context.active(), span), fn) : fn()
  }

  /** A provider answered: the response's model and usage on its span. */
  answered(
    span: Span,
    usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number; cacheWriteTokens: number; reasoningTokens: number },
    responseModel: string,
    estimated: boolean,
  ): void {
    if (!span.isRecording()) return
    span.setAttributes({
      [GEN_AI.responseModel]: responseModel,
      [GEN_AI.inputTokens]: usage.inputTokens,
      [GEN_AI.outputTokens]: usage.outputTokens,
      [GEN_AI.cacheReadInputTokens]: usage.cachedInputTokens,
      [GEN_AI.cacheCreationInputTokens]: usage.cacheWriteTokens,
      [GEN_AI.reasoningOutputTokens]: usage.reasoningTokens,
      [LLM_TENANT.usageEstimated]: estimated,
    })
  }

  /**
   * Ends a span: error status and `error.type` (the error's class) for a failure. The status
   * message is the error's code (or class), not its message — the library's errors name the
   * tenant (a budget refusal, a missing key) — unless the tenant is an attribute of spans anyway.
   */
  end(span: Span, err?: unknown, attributes?: () => Attributes): void {
    if (span.isRecording()) {
      if (attributes) span.setAttributes(attributes())
      if (err !== undefined) {
        const e = err as { name?: unknown; code?: unknown; message?: unknown } | null
        const type = typeof e?.name === 'string' ? e.name : '_OTHER'
        span.setAttribute(GEN_AI.errorType, type)
        const message = this.tenantOnSpans ? redactText(String(e?.message ?? err)).slice(0, 500) : typeof e?.code === 'string' ? e.code : type
        span.setStatus({ code: SpanStatusCode.ERROR, message })
      }
    }
    span.end()
  }

  /**
   * Admission held the call: an open hold, and the `llm_tenant.admission` event. On a span the
   * library does not own (`owned` false: the app's active span of a bare `track`) only the event.
   */
  admitted(span: Span | undefined, executionId: string, reservedNanos: bigint, reservedTokens: bigint, owned = true): void {
    this.openHolds++
    if (!span?.isRecording()) return
    if (owned) span.setAttribute(LLM_TENANT.executionId, executionId)
    span.addEvent(SPAN_EVENTS.admitted, {
      [LLM_TENANT.executionId]: executionId,
      [LLM_TENANT.reservedCostUsd]: usd(reservedNanos),
      [LLM_TENANT.reservedTokens]: Number(reservedTokens),
    })
  }

  /** A settled call's hold closes, and nothing observes it (no span recorded, no meter provider): see `observes`. */
  holdClosed(): void {
    this.openHolds--
  }

  /** The call settled (or was parked in pending settles): its hold closes; executions and cost counted (attributes on owned spans only). */
  settled(span: Span | undefined, call: CallAttributes, s: SettledInfo, owned = true): void {
    this.openHolds--
    this.labels.observeSpend(call.tenantId, s.costNanos)
    const m = this.instruments()
    if (m) {
      // The SDK keeps the attributes object it is given: each record gets its own (built, not
      // spread: object spread is several times slower on V8 and this runs on every call).
      if (s.costNanos > 0n) m.cost.add(usd(s.costNanos), this.metricAttributes(call))
      const executions = this.metricAttributes(call)
      executions[LLM_TENANT.executionStatus] = s.status
      m.executions.add(1, executions)
    }
    if (!span?.isRecording()) return
    if (owned) span.setAttribute(LLM_TENANT.costUsd, usd(s.costNanos))
    span.addEvent(SPAN_EVENTS.settled, {
      [LLM_TENANT.executionId]: s.executionId,
      [LLM_TENANT.executionStatus]: s.status,
      [LLM_TENANT.costUsd]: usd(s.costNanos),
      [GEN_AI.inputTokens]: s.inputTokens,
      [GEN_AI.outputTokens]: s.outputTokens,
      [LLM_TENANT.settlePending]: s.pending,
    })
  }

  /** A refused call (its `refused` ledger row): the refusal event and the refusal counters. */
  refused(span: Span | undefined, call: CallAttributes, r: RefusalInfo): void {
    const m = this.instruments()
    if (m) {
      // The SDK keeps the attributes object it is given: each record gets its own.
      const executions = this.metricAttributes(call)
      executions[LLM_TENANT.executionStatus] = 'refused'
      m.executions.add(1, executions)
      const refusals = this.metricAttributes(call, r.scope)
      refusals[LLM_TENANT.refusalReason] = r.reason
      m.refusals.add(1, refusals)
      if (r.reason === REFUSAL_REASONS.rateLimit && r.rateLimitName) {
        const windows = this.metricAttributes(call, r.scope)
        windows[LLM_TENANT.rateLimitName] = r.rateLimitName
        m.rateLimitRefusals.add(1, windows)
      }
    }
    if (!span?.isRecording()) return
    const event: Attributes = { [LLM_TENANT.executionId]: r.executionId, [LLM_TENANT.refusalReason]: r.reason }
    if (r.scope) event[LLM_TENANT.limitScope] = r.scope
    if (r.rateLimitName) event[LLM_TENANT.rateLimitName] = r.rateLimitName
    if (typeof r.retryAfterMs === 'number') event[LLM_TENANT.retryAfterMs] = r.retryAfterMs
    span.addEvent(SPAN_EVENTS.refused, event)
  }

  /** `gen_ai.client.operation.duration` and `gen_ai.client.token.usage` for one provider call. */
  providerCall(c: ProviderCallInfo): void {
    const m = this.instruments()
    if (!m) return
    m.operationDuration.record(c.seconds, this.providerCallAttributes(c, null))
    if (c.errorType) return // the conventions record token usage only when the count is known
    if (c.inputTokens !== null) m.tokenUsage.record(c.inputTokens, this.providerCallAttributes(c, 'input'))
    if (c.outputTokens !== null) m.tokenUsage.record(c.outputTokens, this.providerCallAttributes(c, 'output'))
  }

  /** Observes `source.pendingSettles` as `llm_tenant.settles.pending` (summed over the config's budgets, each once). */
  watchPendingSettles(source: { readonly pendingSettles: number }): void {
    for (const ref of this.pendingSources) if (!ref.deref()) this.pendingSources.delete(ref)
    if (!this.pendingMembers.has(source)) {
      this.pendingMembers.add(source)
      this.pendingSources.add(new WeakRef(source))
    }
    this.instruments() // the gauges exist from the first budget on, before any call
  }

  /** The GenAI histograms' attributes of a provider call (a new object per record: the SDK keeps it), bounded. */
  private providerCallAttributes(c: ProviderCallInfo, tokenType: 'input' | 'output' | null): Attributes {
    const attributes: Attributes = {
      [GEN_AI.operationName]: c.operation,
      [GEN_AI.providerName]: foldProvider(c.provider),
      [GEN_AI.requestModel]: this.models.label(c.requestModel),
    }
    if (c.responseModel) attributes[GEN_AI.responseModel] = this.models.label(c.responseModel)
    if (c.errorType) attributes[GEN_AI.errorType] = c.errorType
    if (tokenType) attributes[GEN_AI.tokenType] = tokenType
    return attributes
  }

  private tenantOnSpan(span: Span, tenantId: string | null): void {
    if (this.tenantOnSpans && tenantId !== null) span.setAttribute(LLM_TENANT.tenantId, tenantId)
  }

  /** A new attributes object of a call's metrics (and the refusal's limit scope); every value bounded. */
  private metricAttributes(call: CallAttributes, scope?: string | null): Attributes {
    const attributes: Attributes = { [LLM_TENANT.agentType]: this.agentTypes.label(call.agentType), [GEN_AI.requestModel]: this.models.label(call.model) }
    if (call.provider !== null) attributes[GEN_AI.providerName] = foldProvider(call.provider)
    if (this.labels.enabled) attributes[LLM_TENANT.tenantId] = this.labels.label(call.tenantId)
    if (scope) attributes[LLM_TENANT.limitScope] = scope
    return attributes
  }

  /** The instruments of the current meter provider, or null when it is the no-op one. */
  private instruments(): Instruments | null {
    const provider = this.meterProvider ?? metrics.getMeterProvider()
    let m = this.cached
    if (m === null || m.provider !== provider) m = this.cached = createInstruments(provider, this)
    return m.on ? m : null
  }

  /** This config's open holds (observed as `llm_tenant.holds.open`). */
  get holdsOpen(): number {
    return this.openHolds
  }

  /** This config's budgets' pending settles (observed as `llm_tenant.settles.pending`). */
  get settlesPending(): number {
    let n = 0
    for (const ref of this.pendingSources) {
      const source = ref.deref()
      if (source) n += source.pendingSettles
      else this.pendingSources.delete(ref)
    }
    return n
  }
}
