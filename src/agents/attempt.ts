/**
 * One provider attempt: admitted through the budget pipeline (its own hold and ledger row), run
 * against the SDK with the tenant's key, priced exactly, settled with the real usage. A failed
 * attempt settles with zero usage (a 429/500 consumed nothing) and rethrows a scrubbed error.
 */
import type { Span } from '@opentelemetry/api'
import type { LlmBudgets } from '../budget/budgets.js'
import type { CallContext } from '../budget/call.js'
import { nanosToUsd } from '../foundation/money.js'
import { estimateCost, priceUsage, type NormalizedUsage, type PricingOptions } from '../pricing/price.js'
import { anthropicMessages } from '../providers/anthropic.js'
import { toProviderError } from '../providers/errors.js'
import { openaiChat, openaiResponses } from '../providers/openai.js'
import type { ProviderAdapter, ProviderRequest, ProviderResponse } from '../providers/types.js'
import type { ResolvedTenantRef } from '../tenant/ref.js'
import type { AgentDefinition } from './define.js'
import { inAttemptSpan, providerCallEnded } from './run-telemetry.js'

export function adapterFor(def: AgentDefinition): ProviderAdapter {
  if (def.provider === 'anthropic') return anthropicMessages
  return def.api === 'responses' ? openaiResponses : openaiChat
}

/** A deliberately generous input-size estimate (≈ 3 chars per token) for the reservation. */
function estimateInputTokens(req: ProviderRequest): number {
  const chars = (req.instructions?.length ?? 0) + JSON.stringify(req.messages).length + JSON.stringify(req.tools ?? []).length
  return Math.ceil(chars / 3) + 16
}

/** Usage when the provider sent none (or the stream was cut): input estimate + output by length. */
export function estimatedUsage(inputTokens: number, text: string): NormalizedUsage {
  return { inputTokens, outputTokens: Math.ceil(text.length / 4), cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
}

export interface AttemptContext {
  budgets: LlmBudgets
  tenant: ResolvedTenantRef
  client: unknown
  apiKey: string
  pricing: PricingOptions
  traceId: string
  parentId: string | null
  /** The tenant API key the run is attributed to. */
  apiKeyId: string | null
  /** The run's own metadata (RunOptions.metadata), under the library's keys. */
  runMetadata: Record<string, unknown>
  step: number
  attempt: number
  now: () => Date
  /** The run's span: the attempt's `chat {model}` span is its child. */
  runSpan: Span
}

export interface PricedResponse {
  executionId: string
  response: ProviderResponse
  usage: NormalizedUsage
  costNanos: bigint
}

/** Reports usage for settle: exact price, provenance on the execution. */
export function reportPriced(
  ctx: CallContext,
  def: AgentDefinition,
  model: string,
  usage: NormalizedUsage,
  at: Date,
  pricing: PricingOptions,
  extra: Record<string, unknown>,
): bigint {
  const priced = priceUsage(def.provider, model, usage, at, pricing)
  ctx.reportUsage({
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    cachedInputTokens: usage.cachedInputTokens,
    inputCost: nanosToUsd(priced.inputCostNanos),
    outputCost: nanosToUsd(priced.outputCostNanos),
    metadata: {
      ...extra,
      pricing: priced.source,
      priceEffectiveFrom: priced.price.effectiveFrom,
      cacheWriteTokens: usage.cacheWriteTokens,
      reasoningTokens: usage.reasoningTokens,
    },
  })
  return priced.inputCostNanos + priced.outputCostNanos
}

export function reservation(def: AgentDefinition, model: string, req: ProviderRequest, at: Date, pricing: PricingOptions) {
  const inputTokens = estimateInputTokens(req)
  return {
    inputTokens,
    cost: nanosToUsd(estimateCost(def.provider, model, inputTokens, def.maxOutputTokens, at, pricing)),
    tokens: inputTokens + def.maxOutputTokens,
  }
}

export async function runAttempt(a: AttemptContext, def: AgentDefinition, model: string, req: ProviderRequest): Promise<PricedResponse> {
  const adapter = adapterFor(def)
  const est = reservation(def, model, req, a.now(), a.pricing)
  let executionId = ''
  const meta = { ...a.runMetadata, step: a.step, attempt: a.attempt, api: def.provider === 'openai' ? def.api : 'messages' }
  const telemetry = a.budgets.config.telemetry
  try {
    return await inAttemptSpan(a, false, def, model, (spans) =>
      a.budgets.trackInSpan(
        spans,
        a.tenant,
        {
          agentType: def.name,
          model,
          provider: def.provider,
          estimate: { cost: est.cost, tokens: est.tokens },
          traceId: a.traceId,
          parentId: a.parentId,
          apiKeyId: a.apiKeyId,
          metadata: meta,
          signal: req.signal,
        },
        async (ctx) => {
          executionId = ctx.executionId
          const span = spans.span as Span // admission opened the attempt's span
          let response: ProviderResponse
          const started = performance.now()
          try {
            response = await telemetry.within(span, () => adapter.complete(a.client, req))
          } catch (err) {
            ctx.reportUsage({ metadata: meta })
            const failure = toProviderError(err, def.provider, model, a.apiKey)
            providerCallEnded(telemetry, span, def, model, started, null, failure)
            throw failure
          }
          const usage = response.usage ?? estimatedUsage(est.inputTokens, response.text)
          providerCallEnded(telemetry, span, def, model, started, { responseModel: response.model, usage, estimated: response.usage === null })
          const costNanos = reportPriced(ctx, def, model, usage, a.now(), a.pricing, {
            ...meta,
            answeredModel: response.model,
            usageEstimated: response.usage === null,
          })
          return { executionId: ctx.executionId, response, usage, costNanos }
        },
      ),
    )
  } catch (err) {
    if (err && typeof err === 'object' && executionId) Object.defineProperty(err, 'executionId', { value: executionId, enumerable: false })
    throw err
  }
}
