/**
 * The agent runtime: tenant → key → (breaker → admission → provider → price → settle) per attempt,
 * with retries, fallback models and tool round trips. Every provider call is its own ledger row,
 * linked by the run's trace id and the previous step's execution id; refusals (budget, breaker,
 * missing key) are ledger rows too, that consume nothing.
 */
import { randomBytes } from 'node:crypto'
import { INVALID_SPAN_CONTEXT, trace, type Span } from '@opentelemetry/api'
import { LlmBudgets, type BudgetsOptions } from '../budget/budgets.js'
import { yieldToEventLoop } from '../budget/call.js'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider } from '../db/client.js'
import { LlmTenantError } from '../foundation/errors.js'
import { redactText } from '../foundation/redact.js'
import { nanosToUsd } from '../foundation/money.js'
import type { PricingOptions } from '../pricing/price.js'
import { validatePrice } from '../pricing/price.js'
import { SdkClientCache, type ProviderEndpoint } from '../providers/clients.js'
import { ProviderError } from '../providers/errors.js'
import { PROVIDERS, type ChatMessage, type ProviderName, type ProviderRequest } from '../providers/types.js'
import { ResolvedTenantRef, type ResolvedTenant } from '../tenant/ref.js'
import { runAttempt } from './attempt.js'
import { CircuitBreakers } from './breaker.js'
import { defineAgent, type AgentDefinition, type AgentOptions } from './define.js'
import { AllModelsExhaustedError, CircuitBreakerOpenError, MaxStepsExceededError, MissingApiKeyError, UnknownAgentError, type AttemptInfo } from './errors.js'
import { streamAgent } from './stream.js'
import { withTenantConfig } from './tenant-config.js'
import { AgentConfigCache } from '../agent-configs/cache.js'
import { AgentDisabledError } from '../agent-configs/errors.js'
import type { Agent, AgentInput, AgentResult, AgentStream, AgentUsage, RunOptions, RunSetup } from './types.js'
import { appendTurn, openRunSession, type RunSession } from './session-turns.js'
import { LlmSessionStore } from '../sessions/store.js'
import type { SessionStoreOptions } from '../sessions/core.js'
import { traceIdOf } from '../telemetry/telemetry.js'
import { toMetadataJson } from '../foundation/validation.js'
import { runAttributes } from './run-telemetry.js'
import { assertOptions, assertRunOptions, normalizeInput, RUNTIME_KEYS } from './run-options.js'

export type { Agent, AgentInput, AgentResult, AgentStream, RunOptions } from './types.js'
import { AdmissionError, BudgetExceededError, RateLimitExceededError, TenantInactiveError } from '../budget/errors.js'

export interface RuntimeOptions {
  config?: LlmConfig | LlmConfigInput
  providers?: Partial<Record<ProviderName, ProviderEndpoint>>
  pricing?: PricingOptions
  /** The tenant's own provider keys (the llmTenant() extension wires its `apiKeys` option here). */
  tenantApiKeys?: (tenant: ResolvedTenant) => Promise<Record<string, string>>
  budgets?: BudgetsOptions
  /** Most SDK clients kept (one per distinct key). Default 256. */
  clientCacheSize?: number
  /** The conversation store runs with `session` use (or its options; default: one over the same client and config). */
  sessions?: LlmSessionStore | Omit<SessionStoreOptions, 'config'>
}

const ENV_KEYS: Record<ProviderName, string> = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' }
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason) // aborted while the failed attempt settled: no 'abort' event follows
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true })
  })

export class LlmRuntime {
  readonly config: LlmConfig
  readonly budgets: LlmBudgets
  readonly clients: SdkClientCache
  readonly breakers = new CircuitBreakers()
  /** Agents by name, as defineAgent registered them (the latest definition of a name wins). */
  private readonly registry = new Map<string, Agent>()
  /** Tenants' agent configs, cached per tenant for tenantCacheTtlMs. */
  private readonly agentConfigs: AgentConfigCache
  /** The conversation store runs with a `session` read and append (RuntimeOptions.sessions). */
  readonly sessions: LlmSessionStore

  constructor(
    client: unknown,
    private readonly options: RuntimeOptions = {},
  ) {
    assertOptions(options, RUNTIME_KEYS, 'options')
    assertOptions(options.providers, PROVIDERS, 'options.providers')
    for (const [name, endpoint] of Object.entries(options.providers ?? {})) assertOptions(endpoint, ['baseURL', 'apiKey'], `options.providers.${name}`)
    assertOptions(options.pricing, ['prices', 'fallback'], 'options.pricing')
    // The client is validated here (a clear error at construction); the budget layer runs on it.
    assertClient(client)
    detectProvider(client)
    this.config = toConfig(options.config)
    this.agentConfigs = new AgentConfigCache(assertClient(client), this.config.tenantCacheTtlMs)
    this.budgets = new LlmBudgets(client, this.config, options.budgets)
    this.clients = new SdkClientCache(options.clientCacheSize ?? 256)
    this.sessions = options.sessions instanceof LlmSessionStore ? options.sessions : new LlmSessionStore(client, { ...options.sessions, config: this.config })
    for (const p of options.pricing?.prices ?? []) validatePrice(p, `pricing.prices[${p?.model}]`)
    if (options.pricing?.fallback) validatePrice(options.pricing.fallback, 'pricing.fallback')
  }

  get pricing(): PricingOptions {
    return this.options.pricing ?? {}
  }

  /** Defines an agent and registers it under its name (`runtime.agent(name)`). */
  defineAgent(options: AgentOptions): Agent {
    const definition = defineAgent(options)
    const agent: Agent = {
      definition,
      run: (input, opts) => this.run(definition, input, opts),
      stream: (input, opts) => this.stream(definition, input, opts),
    }
    this.registry.set(definition.name, agent)
    return agent
  }

  /** The agent defineAgent registered under `name` (UnknownAgentError if none): an app's code can find it by the name its config uses. */
  agent(name: string): Agent {
    const agent = typeof name === 'string' ? this.registry.get(name) : undefined
    if (!agent) throw new UnknownAgentError(String(name), [...this.registry.keys()].sort())
    return agent
  }

  async run(code: AgentDefinition, input: AgentInput, opts: RunOptions = {}): Promise<AgentResult> {
    // One `invoke_agent` span per run; its trace id is the ledger's traceId when the caller gives none.
    const telemetry = this.config.telemetry
    const span = telemetry.startRun(code)
    try {
      // The run's span is the active one while it runs: tools, nested runs and their `track` calls are its children.
      const result = await telemetry.within(span, () => this.runSteps(span, code, input, opts))
      telemetry.end(span, undefined, () => runAttributes(result))
      return result
    } catch (err) {
      telemetry.end(span, err)
      throw err
    }
  }

  private async runSteps(span: Span, code: AgentDefinition, input: AgentInput, opts: RunOptions): Promise<AgentResult> {
    const setup = await this.prepare(code, input, opts, span)
    const def = setup.definition
    let messages = setup.messages
    let parentId = opts.parentId ?? null
    const attempts: AttemptInfo[] = []
    const usage: AgentUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
    let costNanos = 0n
    for (let step = 1; step <= def.maxSteps; step++) {
      const ctx = {
        budgets: this.budgets,
        tenant: setup.tenant,
        client: setup.sdk,
        apiKey: setup.apiKey,
        pricing: this.pricing,
        traceId: setup.traceId,
        parentId,
        apiKeyId: setup.tenantApiKeyId,
        runMetadata: setup.runMetadata,
        step,
        now: this.config.now,
        runSpan: span,
      }
      const result = await this.callModels(def, setup, { parentId, signal: opts.signal }, attempts, (model, attempt) =>
        runAttempt({ ...ctx, attempt }, def, model, this.request(def, model, messages, opts.signal)),
      )
      costNanos += result.costNanos // failed attempts settle with zero usage: nothing to add
      for (const k of Object.keys(usage) as Array<keyof AgentUsage>) usage[k] += result.usage[k]
      parentId = result.executionId
      const { response } = result
      if (response.toolCalls.length > 0 && def.tools.length > 0) {
        messages = [...messages, { role: 'assistant', content: response.text, toolCalls: response.toolCalls }]
        for (const call of response.toolCalls) {
          const tool = def.tools.find((t) => t.name === call.name)
          let content: string
          try {
            const out = tool ? await tool.run(call.arguments) : `error: unknown tool "${call.name}"`
            content = typeof out === 'string' ? out : JSON.stringify(out)
          } catch (err) {
            content = `error: ${redactText(String((err as Error)?.message ?? err))}`
          }
          messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content })
        }
        continue
      }
      messages = [...messages, { role: 'assistant', content: response.text }]
      const done: AgentResult = {
        text: response.text,
        model: result.model,
        usage,
        cost: nanosToUsd(costNanos),
        executionId: result.executionId,
        traceId: setup.traceId,
        steps: step,
        attempts,
        messages,
      }
      return setup.session ? appendTurn(setup.session, done) : done
    }
    throw new MaxStepsExceededError(def.name, def.maxSteps)
  }

  stream(def: AgentDefinition, input: AgentInput, opts: RunOptions = {}): AgentStream {
    return streamAgent(this, def, input, opts)
  }

  /**
   * Tenant, the tenant's version of the agent, key and SDK client for a run; a disabled agent is
   * refused before anything (no reservation, no ledger row); a missing key is refused (and
   * recorded) before any call.
   *
   * @param span @internal The run's `invoke_agent` span (default: none, a non-recording span).
   */
  async prepare(code: AgentDefinition, input: AgentInput, opts: RunOptions, span: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT)): Promise<RunSetup> {
    assertRunOptions(opts)
    let messages = normalizeInput(input)
    let resolved: ResolvedTenant | null
    try {
      resolved = await this.budgets.resolveTenant(opts.tenant)
    } catch (err) {
      if (err instanceof LlmTenantError) throw err
      if (this.config.failMode === 'closed') throw new AdmissionError(`Tenant resolution failed: ${redactText(String((err as Error)?.message ?? err))}`)
      resolved = null
    }
    const def = await this.definitionFor(code, resolved)
    let session: RunSession | null = null
    if (opts.session !== undefined) {
      // The call's tenant, as resolved above — never one read from the session id.
      const opened = await openRunSession(this.sessions, resolved, opts.session, def.name)
      session = opened.session
      messages = [...opened.history, ...messages]
    }
    // The caller's trace id, else the run span's OTel trace id, else a fresh one of the same W3C form.
    const traceId = opts.traceId ?? traceIdOf(span) ?? randomBytes(16).toString('hex')
    this.config.telemetry.prepared(span, def, resolved?.tenantId ?? null, opts.session, traceId)
    const tenantKeys = resolved && this.options.tenantApiKeys ? await this.options.tenantApiKeys(resolved) : {}
    const endpoint = this.options.providers?.[def.provider] ?? {}
    const apiKey = [tenantKeys[def.provider], opts.apiKeys?.[def.provider], endpoint.apiKey, process.env[ENV_KEYS[def.provider]]].find(
      (k): k is string => typeof k === 'string' && k.trim() !== '',
    )
    if (!apiKey) {
      const err = new MissingApiKeyError(def.provider, resolved?.tenantId ?? null)
      await this.recordRefusal(def, def.model, resolved, traceId, opts.parentId ?? null, err, opts.apiKeyId ?? null, opts.metadata ?? null, span)
      throw err
    }
    const sdk = await this.clients.get(def.provider, apiKey, endpoint)
    return {
      definition: def,
      messages,
      resolved,
      tenant: new ResolvedTenantRef(resolved),
      traceId,
      apiKey,
      tenantApiKeyId: opts.apiKeyId ?? null,
      runMetadata: (toMetadataJson(opts.metadata, 'options.metadata') ?? {}) as Record<string, unknown>,
      sdk,
      session,
      span,
    }
  }

  /** The definition a tenant's run uses: its agent config's settings over the code's, or the code's. */
  private async definitionFor(code: AgentDefinition, tenant: ResolvedTenant | null): Promise<AgentDefinition> {
    if (!tenant) return code
    let config: Awaited<ReturnType<AgentConfigCache['configOf']>>
    try {
      config = await this.agentConfigs.configOf(tenant.tenantId, code.name)
    } catch (err) {
      // Like tenant resolution: closed refuses the run, open runs it as the code defines it.
      if (this.config.failMode === 'closed') throw new AdmissionError(`Agent config lookup failed: ${redactText(String((err as Error)?.message ?? err))}`)
      return code
    }
    if (config && !config.enabled) throw new AgentDisabledError(tenant.tenantId, code.name)
    return withTenantConfig(code, config)
  }

  request(def: AgentDefinition, model: string, messages: ChatMessage[], signal?: AbortSignal, stream = false): ProviderRequest {
    return {
      model,
      instructions: def.instructions,
      messages,
      maxOutputTokens: def.maxOutputTokens,
      temperature: def.temperature,
      tools: stream ? undefined : def.tools.map(({ name, description, parameters }) => ({ name, description, parameters })),
      signal,
      timeoutMs: def.timeoutMs,
    }
  }

  /**
   * Primary model, then fallbacks; per model: breaker, then attempts with backoff on retryable
   * failures. Shared by run and stream: `attempt` makes one admitted, recorded provider call
   * (runAttempt, or one streamed call); `committed()` says the caller already received output from
   * the attempt that just failed, so the failure ends the call as it is: retrying or falling back
   * would send the caller a second answer after part of the first.
   */
  async callModels<T extends { executionId: string }>(
    def: AgentDefinition,
    setup: RunSetup,
    at: { parentId: string | null; signal?: AbortSignal },
    attempts: AttemptInfo[],
    attempt: (model: string, attemptNumber: number) => Promise<T>,
    committed: () => boolean = () => false,
  ): Promise<T & { model: string }> {
    const tenantId = setup.resolved?.tenantId ?? null
    const models = [def.model, ...def.fallbackModels]
    let tried = false
    for (const model of models) {
      if (this.breakers.acquire(tenantId, def.name, model, def.circuitBreaker, Date.now()) === 'open') {
        const err = new CircuitBreakerOpenError(tenantId, def.name, [model])
        const id = await this.recordRefusal(def, model, setup.resolved, setup.traceId, at.parentId, err, setup.tenantApiKeyId, setup.runMetadata, setup.span)
        attempts.push({ executionId: id, model, status: 'refused', errorClass: err.name, message: err.message })
        continue
      }
      for (let retry = 0; retry <= def.retries; retry++) {
        tried = true
        try {
          const result = await attempt(model, attempts.length + 1)
          this.breakers.success(tenantId, def.name, model)
          attempts.push({ executionId: result.executionId, model, status: 'success', errorClass: null, message: null })
          return { ...result, model }
        } catch (err) {
          const executionId = (err as { executionId?: string })?.executionId ?? null
          if (err instanceof BudgetExceededError || err instanceof RateLimitExceededError || err instanceof TenantInactiveError) {
            // Refused by admission: track() recorded the refusal row already.
            this.breakers.releaseProbe(tenantId, def.name, model)
            throw err
          }
          if (!(err instanceof ProviderError)) {
            this.breakers.releaseProbe(tenantId, def.name, model)
            throw err // aborted by the caller, admission failure, unknown model: not the provider's fault
          }
          attempts.push({ executionId, model, status: err.name === 'TimeoutError' ? 'timeout' : 'error', errorClass: err.name, message: err.message })
          this.breakers.failure(tenantId, def.name, model, def.circuitBreaker, Date.now())
          if (committed()) throw err
          if (!err.retryable || retry === def.retries) break
          if (this.breakers.acquire(tenantId, def.name, model, def.circuitBreaker, Date.now()) === 'open') break
          const backoff = def.retryBaseMs * 2 ** retry * (0.5 + Math.random() / 2)
          await sleep(Math.min(err.retryAfterMs ?? backoff, 60_000), at.signal)
        }
      }
    }
    if (!tried) throw new CircuitBreakerOpenError(tenantId, def.name, models)
    throw new AllModelsExhaustedError(def.name, attempts)
  }

  /**
   * Records a refusal the runtime decides itself (open circuit breaker, missing key) as a `refused`
   * ledger row, like admission's own refusals (budget/refusals.ts): visible, consuming nothing.
   */
  async recordRefusal(
    def: AgentDefinition,
    model: string,
    tenant: ResolvedTenant | null,
    traceId: string,
    parentId: string | null,
    err: Error,
    apiKeyId: string | null = null,
    metadata: Record<string, unknown> | null = null,
    span?: Span,
  ): Promise<string> {
    const id = await this.budgets.recordRefusal(
      {
        tenantId: tenant?.tenantId ?? null,
        agentType: def.name,
        model,
        provider: def.provider,
        traceId,
        parentId,
        apiKeyId,
        metadata: toMetadataJson(metadata),
        at: this.config.now(),
      },
      err,
      span,
    )
    await yieldToEventLoop() // a refusal loop must not starve the process (see LlmBudgets.track)
    return id
  }
}

/** Creates the agent runtime over the app's Prisma client. */
export function createLlmRuntime(client: unknown, options: RuntimeOptions = {}): LlmRuntime {
  return new LlmRuntime(client, options)
}
