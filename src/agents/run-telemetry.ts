/**
 * What runs and attempts report to telemetry (src/telemetry/): the attempt span around one
 * admitted provider call, the provider call's duration and token usage (the GenAI client
 * histograms), and the run span's closing attributes. Shared by runs (attempt.ts) and streams
 * (stream.ts) so both report the same names.
 *
 * The duration is the provider call's alone (the SDK request, or the stream from first byte to
 * last): admission and settle are ours and have their own events on the attempt span, so an
 * operator comparing `gen_ai.client.operation.duration` with the provider's latency compares like
 * with like.
 */
import type { Attributes, Span } from '@opentelemetry/api'
import type { LlmBudgets } from '../budget/budgets.js'
import type { NormalizedUsage } from '../pricing/price.js'
import { GEN_AI, LLM_TENANT } from '../telemetry/names.js'
import type { AttemptSpans, LlmTelemetry } from '../telemetry/telemetry.js'
import type { ResolvedTenantRef } from '../tenant/ref.js'
import type { AgentDefinition } from './define.js'
import type { AgentResult } from './types.js'

/** The run span's attributes once the run has its answer: response model, usage, cost, steps. */
export function runAttributes(r: AgentResult): Attributes {
  return {
    [GEN_AI.responseModel]: r.model,
    [GEN_AI.inputTokens]: r.usage.inputTokens,
    [GEN_AI.outputTokens]: r.usage.outputTokens,
    [GEN_AI.cacheReadInputTokens]: r.usage.cachedInputTokens,
    [GEN_AI.cacheCreationInputTokens]: r.usage.cacheWriteTokens,
    [GEN_AI.reasoningOutputTokens]: r.usage.reasoningTokens,
    [LLM_TENANT.costUsd]: r.cost.toNumber(),
    [LLM_TENANT.traceId]: r.traceId,
    [LLM_TENANT.executionId]: r.executionId,
    [LLM_TENANT.steps]: r.steps,
    [LLM_TENANT.attempts]: r.attempts.length,
  }
}

export interface AttemptSpanInfo {
  budgets: LlmBudgets
  runSpan: Span
  tenant: ResolvedTenantRef
  step: number
  attempt: number
}

/**
 * Runs one attempt with its spans: `fn` hands them to the tracked call, whose admission opens the
 * attempt's `chat {model}` span (a child of the run's) — an attempt refused before the provider
 * has none, its refusal is an event of the run's span. The span ends with the attempt's outcome.
 */
export async function inAttemptSpan<T>(
  a: AttemptSpanInfo,
  stream: boolean,
  def: AgentDefinition,
  model: string,
  fn: (spans: AttemptSpans) => Promise<T>,
): Promise<T> {
  const telemetry = a.budgets.config.telemetry
  let span: Span | undefined
  const spans: AttemptSpans = {
    parent: a.runSpan,
    get span() {
      return span
    },
    open: () =>
      (span = telemetry.startAttempt(a.runSpan, {
        provider: def.provider,
        model,
        agentType: def.name,
        tenantId: a.tenant.value?.tenantId ?? null,
        maxTokens: def.maxOutputTokens,
        temperature: def.temperature,
        stream,
        step: a.step,
        attempt: a.attempt,
      })),
  }
  try {
    const out = await fn(spans)
    if (span) telemetry.end(span)
    return out
  } catch (err) {
    if (span) telemetry.end(span, err)
    throw err
  }
}

/** One provider call ended: the GenAI histograms, and the response's model and usage on the attempt span. */
export function providerCallEnded(
  telemetry: LlmTelemetry,
  span: Span,
  def: AgentDefinition,
  model: string,
  startedAt: number,
  answer: { responseModel: string | null; usage: NormalizedUsage; estimated: boolean } | null,
  failure?: Error,
): void {
  if (answer && span.isRecording()) telemetry.answered(span, answer.usage, answer.responseModel ?? model, answer.estimated)
  if (!telemetry.observes(undefined)) return // no meter provider records: nothing to build
  const seconds = (performance.now() - startedAt) / 1000
  telemetry.providerCall({
    operation: 'chat',
    provider: def.provider,
    requestModel: model,
    responseModel: answer?.responseModel ?? null,
    seconds,
    // Estimated usage (the provider sent none) is not reported as a count: the conventions say so.
    inputTokens: answer && !answer.estimated ? answer.usage.inputTokens : null,
    outputTokens: answer && !answer.estimated ? answer.usage.outputTokens : null,
    errorType: failure ? failure.name : null,
  })
}
