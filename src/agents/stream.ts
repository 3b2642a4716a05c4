/**
 * Streaming runs: an async iterable of text deltas plus `result`. Each provider stream runs inside
 * one admitted call; the budget settles with the provider's final usage (OpenAI include_usage,
 * Anthropic message events). If the caller stops iterating (or aborts), the request is aborted and
 * the call is settled as `cancelled`, costed for what was consumed (input + streamed output), and
 * its hold released. A stream cut by the network settles the same way as an error.
 *
 * Until the first delta has gone to the caller, a failed stream (429, 5xx, timeout, cut connection)
 * is retried and falls back exactly like a run: the same loop (LlmRuntime.callModels), so the same
 * retries, backoff, retry-after, breakers and fallback order, each attempt its own admitted call
 * and ledger row. The caller sees only the deltas of the attempt that answered. After the first
 * delta a failure is final: a retry would restart the answer under text the caller already has.
 */
import { nanosToUsd } from '../foundation/money.js'
import type { NormalizedUsage } from '../pricing/price.js'
import { ProviderError, toProviderError } from '../providers/errors.js'
import { adapterFor, estimatedUsage, reportPriced, reservation } from './attempt.js'
import { appendTurn } from './session-turns.js'
import { inAttemptSpan, providerCallEnded, runAttributes } from './run-telemetry.js'
import type { AgentDefinition } from './define.js'
import type { AttemptInfo } from './errors.js'
import type { AgentInput, AgentResult, AgentStream, RunOptions, RunSetup } from './types.js'
import type { LlmBudgets } from '../budget/budgets.js'
import type { LlmConfig } from '../config/config.js'
import type { PricingOptions } from '../pricing/price.js'
import type { ChatMessage, ProviderRequest } from '../providers/types.js'
import type { ProviderResponse } from '../providers/types.js'
import type { Span } from '@opentelemetry/api'

/**
 * An HTTP error status with nothing streamed means the provider refused the request outright. A
 * timeout, a cut connection or an abort has no status: the input may have been processed, so those
 * are charged the estimated input plus what was streamed.
 */
function refusedBeforeStreaming(failure: Error, streamed: string): boolean {
  return failure instanceof ProviderError && failure.status !== null && streamed === ''
}

/**
 * What streaming needs of the runtime (LlmRuntime provides it): preparing a run, building a
 * request, and the retry/fallback loop shared with run. Named here so stream.ts does not import
 * the runtime that creates streams.
 */
export interface StreamRuntime {
  readonly config: LlmConfig
  readonly budgets: LlmBudgets
  readonly pricing: PricingOptions
  prepare(def: AgentDefinition, input: AgentInput, opts: RunOptions, span: Span): Promise<RunSetup>
  request(def: AgentDefinition, model: string, messages: ChatMessage[], signal?: AbortSignal, stream?: boolean): ProviderRequest
  callModels<T extends { executionId: string }>(
    def: AgentDefinition,
    setup: RunSetup,
    at: { parentId: string | null; signal?: AbortSignal },
    attempts: AttemptInfo[],
    attempt: (model: string, attemptNumber: number) => Promise<T>,
    committed?: () => boolean,
  ): Promise<T & { model: string }>
}

interface StreamedAttempt {
  executionId: string
  text: string
  usage: NormalizedUsage
  costNanos: bigint
}

interface StreamAttemptContext {
  rt: StreamRuntime
  def: AgentDefinition
  setup: RunSetup
  parentId: string | null
  signal: AbortSignal
  /** Hands a delta to the caller. */
  push(delta: string): void
  /** What a failed attempt was charged (its partial usage), so `result.cost` covers every attempt. */
  charged(costNanos: bigint): void
}

/** One streamed provider call inside its own admitted call: its own hold and ledger row. */
async function streamAttempt(a: StreamAttemptContext, model: string, attempt: number): Promise<StreamedAttempt> {
  const { rt, def, setup } = a
  const pricing = rt.pricing
  const req = rt.request(def, model, setup.messages, a.signal, true)
  const est = reservation(def, model, req, rt.config.now(), pricing)
  const meta = { ...setup.runMetadata, step: 1, attempt, streamed: true }
  let executionId = ''
  const telemetry = rt.config.telemetry
  const spanInfo = { budgets: rt.budgets, runSpan: setup.span, tenant: setup.tenant, step: 1, attempt }
  try {
    return await inAttemptSpan(spanInfo, true, def, model, (spans) =>
      rt.budgets.trackInSpan(
        spans,
        setup.tenant,
        {
          agentType: def.name,
          model,
          provider: def.provider,
          estimate: { cost: est.cost, tokens: est.tokens },
          traceId: setup.traceId,
          parentId: a.parentId,
          apiKeyId: setup.tenantApiKeyId,
          metadata: meta,
          signal: a.signal,
        },
        async (ctx) => {
          executionId = ctx.executionId
          const span = spans.span as Span // admission opened the attempt's span
          let text = ''
          let response: ProviderResponse | undefined
          const started = performance.now()
          try {
            for await (const event of adapterFor(def).stream(setup.sdk, req)) {
              if (event.type === 'text') {
                text += event.delta
                a.push(event.delta)
              } else response = event.response
            }
            // The SDKs end an aborted stream quietly; an abort is still a cancellation, not a success.
            if (a.signal.aborted) throw Object.assign(new Error('The stream was aborted by the caller'), { name: 'AbortError' })
          } catch (err) {
            const failure = toProviderError(err, def.provider, model, setup.apiKey)
            providerCallEnded(telemetry, span, def, model, started, null, failure)
            if (refusedBeforeStreaming(failure, text)) {
              // The provider answered with an HTTP error before any output (429, 500, …): like a
              // failed run attempt, the request consumed nothing.
              ctx.reportUsage({ metadata: meta })
            } else {
              // Consumed so far: the input and what was streamed (no final usage arrives).
              a.charged(
                reportPriced(ctx, def, model, estimatedUsage(est.inputTokens, text), rt.config.now(), pricing, {
                  ...meta,
                  usageEstimated: true,
                  partial: true,
                }),
              )
            }
            throw failure
          }
          const usage = response?.usage ?? estimatedUsage(est.inputTokens, text)
          providerCallEnded(telemetry, span, def, model, started, { responseModel: response?.model ?? null, usage, estimated: !response?.usage })
          const costNanos = reportPriced(ctx, def, model, usage, rt.config.now(), pricing, { ...meta, usageEstimated: !response?.usage })
          return { executionId: ctx.executionId, text, usage, costNanos }
        },
      ),
    )
  } catch (err) {
    // Like runAttempt: the attempt list names the ledger row of each failed attempt.
    if (err && typeof err === 'object' && executionId) Object.defineProperty(err, 'executionId', { value: executionId, enumerable: false })
    throw err
  }
}

export function streamAgent(rt: StreamRuntime, def: AgentDefinition, input: AgentInput, opts: RunOptions): AgentStream {
  const controller = new AbortController()
  opts.signal?.addEventListener('abort', () => controller.abort(opts.signal?.reason), { once: true })
  const queue: string[] = []
  let wake: (() => void) | undefined
  let finished = false
  let failure: unknown
  let delivered = false // a delta went to the caller: from then on a failure is not retried
  const push = (delta: string) => {
    delivered = true
    queue.push(delta)
    wake?.()
  }

  const telemetry = rt.config.telemetry
  const span = telemetry.startRun(def)
  // The run's span is the active one while it runs (its attempts, and any `track` the SDK's callbacks make).
  const result = telemetry.within(span, async (): Promise<AgentResult> => {
    const setup = await rt.prepare(def, input, opts, span)
    const parentId = opts.parentId ?? null
    const attempts: AttemptInfo[] = []
    let failedCostNanos = 0n
    const attemptContext: StreamAttemptContext = {
      rt,
      def: setup.definition, // the tenant's version of the agent, when it has a config
      setup,
      parentId,
      signal: controller.signal,
      push,
      charged: (nanos) => void (failedCostNanos += nanos),
    }
    const out = await rt.callModels(
      setup.definition,
      setup,
      { parentId, signal: controller.signal },
      attempts,
      (model, attempt) => streamAttempt(attemptContext, model, attempt),
      () => delivered,
    )
    const done: AgentResult = {
      text: out.text,
      model: out.model,
      usage: out.usage,
      cost: nanosToUsd(out.costNanos + failedCostNanos),
      executionId: out.executionId,
      traceId: setup.traceId,
      steps: 1,
      attempts,
      messages: [...setup.messages, { role: 'assistant', content: out.text }],
    }
    return setup.session ? appendTurn(setup.session, done) : done
  })
  result.then(
    (done) => {
      telemetry.end(span, undefined, () => runAttributes(done))
      finished = true
      wake?.()
    },
    (err: unknown) => {
      telemetry.end(span, err)
      failure = err
      finished = true
      wake?.()
    },
  )

  return {
    result,
    abort: () => controller.abort(),
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (queue.length > 0) {
            yield queue.shift() as string
            continue
          }
          if (finished) {
            if (failure) throw failure
            return
          }
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
        }
      } finally {
        if (!finished) controller.abort() // the consumer stopped early
      }
    },
  }
}
