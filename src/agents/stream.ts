/**
 * Streaming runs: an async iterable of text deltas plus `result`. The provider stream runs inside
 * one admitted call; the budget settles with the provider's final usage (OpenAI include_usage,
 * Anthropic message events). If the caller stops iterating (or aborts), the request is aborted and
 * the call is settled as `cancelled`, costed for what was consumed (input + streamed output), and
 * its hold released. A stream cut by the network settles the same way as an error.
 */
import { BudgetExceededError, TenantInactiveError } from '../errors.js'
import { nanosToUsd } from '../money/index.js'
import { ProviderError, toProviderError } from '../providers/errors.js'
import { adapterFor, estimatedUsage, reportPriced, reservation } from './attempt.js'
import type { AgentDefinition } from './define.js'
import { CircuitBreakerOpenError } from './errors.js'
import type { AgentInput, AgentResult, LlmRuntime, RunOptions } from './runtime.js'
import type { ProviderResponse } from '../providers/types.js'

export interface AgentStream extends AsyncIterable<string> {
  /** Resolves when the call has settled; rejects with the run's error. */
  readonly result: Promise<AgentResult>
  /** Stops the stream (same as breaking out of the loop). */
  abort(): void
}

/**
 * An HTTP error status with nothing streamed means the provider refused the request outright. A
 * timeout, a cut connection or an abort has no status: the input may have been processed, so those
 * are charged the estimated input plus what was streamed.
 */
function refusedBeforeStreaming(failure: Error, streamed: string): boolean {
  return failure instanceof ProviderError && failure.status !== null && streamed === ''
}

export function streamAgent(rt: LlmRuntime, def: AgentDefinition, input: AgentInput, opts: RunOptions): AgentStream {
  const controller = new AbortController()
  opts.signal?.addEventListener('abort', () => controller.abort(opts.signal?.reason), { once: true })
  const queue: string[] = []
  let wake: (() => void) | undefined
  let finished = false
  let failure: unknown
  const push = (delta: string) => {
    queue.push(delta)
    wake?.()
  }

  const result = (async (): Promise<AgentResult> => {
    const setup = await rt.prepare(def, input, opts)
    const tenantId = setup.resolved?.tenantId ?? null
    const model = def.model
    if (rt.breakers.acquire(tenantId, def.name, model, def.circuitBreaker, Date.now()) === 'open') {
      const err = new CircuitBreakerOpenError(tenantId, def.name, [model])
      await rt.recordRefusal(def, model, setup.resolved, setup.traceId, opts.parentId ?? null, err)
      throw err
    }
    const pricing = rt.pricing
    const req = rt.request(def, model, setup.messages, controller.signal, true)
    const est = reservation(def, model, req, rt.config.now(), pricing)
    const meta = { step: 1, attempt: 1, streamed: true }
    try {
      const out = await rt.budgets.track(
        setup.tenant,
        { agentType: def.name, model, provider: def.provider, estimate: { cost: est.cost, tokens: est.tokens }, traceId: setup.traceId,
          parentId: opts.parentId ?? null, metadata: meta, signal: controller.signal },
        async (ctx) => {
          let text = ''
          let response: ProviderResponse | undefined
          try {
            for await (const event of adapterFor(def).stream(setup.sdk, req)) {
              if (event.type === 'text') {
                text += event.delta
                push(event.delta)
              } else response = event.response
            }
            // The SDKs end an aborted stream quietly; an abort is still a cancellation, not a success.
            if (controller.signal.aborted) throw Object.assign(new Error('The stream was aborted by the caller'), { name: 'AbortError' })
          } catch (err) {
            const failure = toProviderError(err, def.provider, model, setup.apiKey)
            if (refusedBeforeStreaming(failure, text)) {
              // The provider answered with an HTTP error before any output (429, 500, …): like a
              // failed run attempt, the request consumed nothing.
              ctx.reportUsage({ metadata: meta })
            } else {
              // Consumed so far: the input and what was streamed (no final usage arrives).
              reportPriced(ctx, def, model, estimatedUsage(est.inputTokens, text), rt.config.now(), pricing, { ...meta, usageEstimated: true, partial: true })
            }
            throw failure
          }
          const usage = response?.usage ?? estimatedUsage(est.inputTokens, text)
          const costNanos = reportPriced(ctx, def, model, usage, rt.config.now(), pricing, { ...meta, usageEstimated: !response?.usage })
          return { executionId: ctx.executionId, text, usage, costNanos }
        },
      )
      rt.breakers.success(tenantId, def.name, model)
      return {
        text: out.text, model, usage: out.usage, cost: nanosToUsd(out.costNanos), executionId: out.executionId, traceId: setup.traceId,
        steps: 1, attempts: [{ executionId: out.executionId, model, status: 'success', errorClass: null, message: null }],
        messages: [...setup.messages, { role: 'assistant', content: out.text }],
      }
    } catch (err) {
      if (err instanceof BudgetExceededError || err instanceof TenantInactiveError) {
        await rt.recordRefusal(def, model, setup.resolved, setup.traceId, opts.parentId ?? null, err)
      } else if ((err as Error)?.name !== 'AbortError') {
        rt.breakers.failure(tenantId, def.name, model, def.circuitBreaker, Date.now())
      }
      throw err
    }
  })()
  result.then(
    () => {
      finished = true
      wake?.()
    },
    (err: unknown) => {
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
