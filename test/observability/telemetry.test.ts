/**
 * Spans and metrics of a known sequence of agent runs, on SQLite and PostgreSQL, with the real
 * OpenTelemetry SDK (in-memory exporters) and the real runtime against the provider emulator:
 * 2 successful runs, 1 refused by a budget, 1 refused by a rate window, 1 whose primary model fails
 * (500) and whose fallback answers. Names, kinds, parents, events, statuses, units, buckets,
 * attributes and values are asserted; the ledger's traceId is the trace's id.
 */
import { SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BudgetExceededError, createLedger, createLlmRuntime, RateLimitExceededError, TenantStore, type AgentResult } from '../../src/index.ts'
import { METRICS, OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS } from '../../src/observability/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { histogramPoints, KIND, metric, points, startSdk, sumOf, pointValue, type TestSdk } from './sdk.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const attr = (s: ReadableSpan, k: string) => s.attributes[k]

describe.each(DATABASES)('spans and metrics of a known sequence on %s', (kind) => {
  const db = useDatabase(kind)
  let sdk: TestSdk
  const results: AgentResult[] = []
  const refusals: unknown[] = []

  beforeAll(async () => {
    sdk = startSdk()
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'acme', enforcement: 'hard' })
    await store.upsert({ tenantId: 'broke', enforcement: 'hard', limits: { dailyExecutions: 0 } })
    await store.upsert({ tenantId: 'limited', enforcement: 'hard', rateLimits: { requestsPerMinute: 0 } })
    const runtime = createLlmRuntime(db().client, {
      config: {
        refusalBackoffMs: 0,
        telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider, tenantAttribute: { allowlist: ['acme'] } },
      },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-observability-tests-0001' } },
    })
    const support = runtime.defineAgent({ name: 'Support', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    const fallback = runtime.defineAgent({ name: 'Fallback', provider: 'openai', model: 'gpt-4o', fallbackModels: ['gpt-4o-mini'], retries: 0 })
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'one', usage: { inputTokens: 1000, outputTokens: 500 } })
    results.push(await support.run('first', { tenant: 'acme' }))
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'two', usage: { inputTokens: 200, outputTokens: 100 } })
    results.push(await support.run('second', { tenant: 'acme' }))
    refusals.push(await support.run('refused', { tenant: 'broke' }).catch((e) => e))
    refusals.push(await support.run('limited', { tenant: 'limited' }).catch((e) => e))
    emulator.script('gpt-4o', { kind: 'error', status: 500, message: 'upstream down' })
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'three', usage: { inputTokens: 300, outputTokens: 30 } })
    results.push(await fallback.run('fall back', { tenant: 'acme' }))
  })
  afterAll(async () => sdk.shutdown())

  it('the calls ended as scripted', () => {
    expect(results.map((r) => r.text)).toEqual(['one', 'two', 'three'])
    expect(refusals[0]).toBeInstanceOf(BudgetExceededError)
    expect(refusals[1]).toBeInstanceOf(RateLimitExceededError)
  })

  it('one invoke_agent span per run (INTERNAL), one chat span per attempt (CLIENT), children of their run', () => {
    const spans = sdk.spans()
    const runs = spans.filter((s) => s.name.startsWith('invoke_agent '))
    const chats = spans.filter((s) => s.name.startsWith('chat '))
    expect(runs.map((s) => s.name)).toEqual([
      'invoke_agent Support',
      'invoke_agent Support',
      'invoke_agent Support',
      'invoke_agent Support',
      'invoke_agent Fallback',
    ])
    // The two refused runs never reached the provider: no chat span (their refusal is an event of the run's span).
    expect(chats.map((s) => s.name)).toEqual(['chat gpt-4o-mini', 'chat gpt-4o-mini', 'chat gpt-4o', 'chat gpt-4o-mini'])
    expect(spans).toHaveLength(runs.length + chats.length)
    for (const s of runs) expect(s.kind).toBe(KIND.INTERNAL)
    for (const s of chats) {
      expect(s.kind).toBe(KIND.CLIENT)
      const parent = runs.find((r) => r.spanContext().spanId === s.parentSpanContext?.spanId)
      expect(parent, s.name).toBeDefined()
      expect(parent!.spanContext().traceId).toBe(s.spanContext().traceId)
    }
    expect(runs.every((r) => r.parentSpanContext === undefined)).toBe(true)
    expect(new Set(runs.map((r) => r.spanContext().traceId)).size).toBe(5)
  })

  it('run spans: GenAI attributes, usage, cost, the ledger trace id; refusals as errors', () => {
    const runs = sdk.spans().filter((s) => s.name.startsWith('invoke_agent '))
    expect(runs[0].attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'Support',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'llm_tenant.agent_type': 'Support',
      'llm_tenant.tenant.id': 'acme',
      'llm_tenant.steps': 1,
      'llm_tenant.attempts': 1,
      'llm_tenant.execution.id': results[0].executionId,
    })
    // 1000 × $0.15/M + 500 × $0.60/M
    expect(attr(runs[0], 'llm_tenant.cost.usd')).toBeCloseTo(0.00045, 12)
    expect(results[0].cost.toFixed()).toBe('0.00045')
    expect(runs[0].status.code).toBe(SpanStatusCode.UNSET)
    expect(runs[2].status.code).toBe(SpanStatusCode.ERROR)
    expect(attr(runs[2], 'error.type')).toBe('BudgetExceededError')
    expect(attr(runs[2], 'llm_tenant.tenant.id')).toBe('broke') // spans carry the exact id: no cardinality cost there
    expect(attr(runs[3], 'error.type')).toBe('RateLimitExceededError')
    expect(runs[4].attributes).toMatchObject({ 'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-mini', 'llm_tenant.attempts': 2 })
  })

  it('the ledger traceId of every run is its OTel trace id, and its rows are its attempts', async () => {
    const spans = sdk.spans()
    const ledger = createLedger(db().client)
    const rows = await ledger.executions({ limit: 100, includeRefused: true })
    for (const r of results) {
      const run = spans.find((s) => s.name.startsWith('invoke_agent ') && s.spanContext().traceId === r.traceId)
      expect(run, r.traceId).toBeDefined()
      expect(r.traceId).toMatch(/^[0-9a-f]{32}$/)
      expect(attr(run!, 'llm_tenant.trace_id')).toBe(r.traceId)
      const attemptIds = spans.filter((s) => s.name.startsWith('chat ') && s.spanContext().traceId === r.traceId).map((s) => attr(s, 'llm_tenant.execution.id'))
      expect(
        rows
          .filter((x) => x.traceId === r.traceId)
          .map((x) => x.id)
          .sort(),
      ).toEqual([...attemptIds].sort())
    }
    // Refused runs too: their refused row carries the trace of their span.
    const refusedRows = rows.filter((x) => x.status === 'refused')
    expect(refusedRows).toHaveLength(2)
    for (const row of refusedRows) expect(spans.some((s) => s.spanContext().traceId === row.traceId)).toBe(true)
  })

  it('chat spans: request and response attributes, admission / settle events, error status; refusals on the run span', () => {
    const chats = sdk.spans().filter((s) => s.name.startsWith('chat '))
    const runs = sdk.spans().filter((s) => s.name.startsWith('invoke_agent '))
    const [ok, , failed, answered] = chats
    const [budget, rate] = [runs[2], runs[3]]
    expect(ok.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.stream': false,
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'llm_tenant.execution.id': results[0].executionId,
      'llm_tenant.step': 1,
      'llm_tenant.attempt': 1,
    })
    expect(typeof attr(ok, 'gen_ai.request.max_tokens')).toBe('number')
    expect(ok.events.map((e) => e.name)).toEqual(['llm_tenant.admission', 'llm_tenant.settle'])
    expect(ok.events[0].attributes).toMatchObject({ 'llm_tenant.execution.id': results[0].executionId })
    expect(ok.events[0].attributes?.['llm_tenant.reserved.cost.usd']).toBeGreaterThan(0)
    expect(ok.events[1].attributes).toMatchObject({
      'llm_tenant.execution.status': 'success',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'llm_tenant.settle.pending': false,
    })
    expect(ok.events[1].attributes?.['llm_tenant.cost.usd']).toBeCloseTo(0.00045, 12)

    expect(budget.events.map((e) => e.name)).toEqual(['llm_tenant.refusal'])
    expect(budget.events[0].attributes).toMatchObject({ 'llm_tenant.refusal.reason': 'dailyExecutions', 'llm_tenant.limit.scope': 'tenant' })
    expect(budget.status.code).toBe(SpanStatusCode.ERROR) // the message may name the tenant here: tenant ids are on spans in this suite
    expect(attr(budget, 'error.type')).toBe('BudgetExceededError')
    expect(rate.events[0].attributes).toMatchObject({
      'llm_tenant.refusal.reason': 'rate_limit',
      'llm_tenant.limit.scope': 'tenant',
      'llm_tenant.rate_limit.name': 'requestsPerMinute',
    })

    expect(failed.events.map((e) => e.name)).toEqual(['llm_tenant.admission', 'llm_tenant.settle'])
    expect(failed.events[1].attributes).toMatchObject({ 'llm_tenant.execution.status': 'error', 'llm_tenant.cost.usd': 0 })
    expect(failed.status.code).toBe(SpanStatusCode.ERROR)
    expect(attr(failed, 'error.type')).toBe('InternalServerError')
    expect(attr(failed, 'gen_ai.response.model')).toBeUndefined()
    expect(answered.attributes).toMatchObject({ 'llm_tenant.attempt': 2, 'gen_ai.usage.input_tokens': 300 })
    expect(answered.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('gen_ai.client.operation.duration and gen_ai.client.token.usage as the conventions define them', async () => {
    const all = await sdk.metrics()
    const duration = metric(all, METRICS.operationDuration)
    expect(duration.descriptor.unit).toBe('s')
    const dp = histogramPoints(duration)
    const ok = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
    }
    expect(dp.map((p) => p.attributes)).toEqual(
      expect.arrayContaining([
        ok,
        { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o', 'error.type': 'InternalServerError' },
      ]),
    )
    expect(dp).toHaveLength(2)
    expect(dp.find((p) => p.attributes['error.type'] === undefined)).toMatchObject({ count: 3, boundaries: OPERATION_DURATION_BUCKETS })
    expect(dp.find((p) => p.attributes['error.type'] === 'InternalServerError')?.count).toBe(1)
    for (const p of dp) expect(p.sum).toBeGreaterThan(0)

    const tokens = metric(all, METRICS.tokenUsage)
    expect(tokens.descriptor.unit).toBe('{token}')
    const tp = histogramPoints(tokens)
    expect(tp).toHaveLength(2)
    expect(tp.find((p) => p.attributes['gen_ai.token.type'] === 'input')).toMatchObject({
      attributes: { ...ok, 'gen_ai.token.type': 'input' },
      count: 3,
      sum: 1500,
      boundaries: TOKEN_USAGE_BUCKETS,
    })
    expect(tp.find((p) => p.attributes['gen_ai.token.type'] === 'output')).toMatchObject({ count: 3, sum: 630 })
  })

  it('our counters: cost, executions by status, refusals by limit type, rate-limit refusals; holds and pending settles', async () => {
    const all = await sdk.metrics()
    const cost = metric(all, METRICS.cost)
    expect(cost.descriptor.unit).toBe('USD')
    expect(points(cost).map((p) => Object.keys(p.attributes).sort())).toEqual(
      points(cost).map(() => ['gen_ai.provider.name', 'gen_ai.request.model', 'llm_tenant.agent_type', 'llm_tenant.tenant.id']),
    )
    const exact = results.reduce((sum, r) => sum + r.cost.toNumber(), 0)
    expect(sumOf(cost, { 'llm_tenant.tenant.id': 'acme' })).toBeCloseTo(exact, 12)
    expect(pointValue(cost, { 'llm_tenant.agent_type': 'Support' })).toBeCloseTo(results[0].cost.plus(results[1].cost).toNumber(), 12)
    expect(sumOf(cost, { 'llm_tenant.tenant.id': 'other' })).toBe(0) // refused tenants spent nothing

    const executions = metric(all, METRICS.executions)
    const support = { 'llm_tenant.agent_type': 'Support', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.provider.name': 'openai' }
    expect(pointValue(executions, { ...support, 'llm_tenant.tenant.id': 'acme', 'llm_tenant.execution.status': 'success' })).toBe(2)
    // Tenants outside the allowlist are folded into `other`.
    expect(pointValue(executions, { ...support, 'llm_tenant.tenant.id': 'other', 'llm_tenant.execution.status': 'refused' })).toBe(2)
    expect(pointValue(executions, { 'gen_ai.request.model': 'gpt-4o', 'llm_tenant.execution.status': 'error' })).toBe(1)
    expect(
      pointValue(executions, { 'llm_tenant.agent_type': 'Fallback', 'gen_ai.request.model': 'gpt-4o-mini', 'llm_tenant.execution.status': 'success' }),
    ).toBe(1)

    const refusalsMetric = metric(all, METRICS.refusals)
    expect(pointValue(refusalsMetric, { 'llm_tenant.refusal.reason': 'dailyExecutions', 'llm_tenant.limit.scope': 'tenant' })).toBe(1)
    expect(pointValue(refusalsMetric, { 'llm_tenant.refusal.reason': 'rate_limit', 'llm_tenant.limit.scope': 'tenant' })).toBe(1)
    const rate = metric(all, METRICS.rateLimitRefusals)
    expect(pointValue(rate, { 'llm_tenant.rate_limit.name': 'requestsPerMinute', 'llm_tenant.limit.scope': 'tenant', 'llm_tenant.tenant.id': 'other' })).toBe(1)

    expect(metric(all, METRICS.openHolds).descriptor.unit).toBe('{hold}')
    expect(pointValue(metric(all, METRICS.openHolds), {})).toBe(0)
    expect(pointValue(metric(all, METRICS.pendingSettles), {})).toBe(0)
  })

  it('a streamed run: the same spans, the attempt marked as streamed, usage from the final event', async () => {
    const runtime = createLlmRuntime(db().client, {
      config: { telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider } },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-observability-tests-0003' } },
    })
    const streamer = runtime.defineAgent({ name: 'Streamer', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'streamed answer', usage: { inputTokens: 70, outputTokens: 7 } })
    const stream = streamer.stream('stream it', { tenant: 'acme' })
    let text = ''
    for await (const delta of stream) text += delta
    const result = await stream.result
    expect(text).toBe('streamed answer')
    const run = sdk.spans().find((s) => s.name === 'invoke_agent Streamer')
    const chat = sdk.spans().find((s) => s.name === 'chat gpt-4o-mini' && s.parentSpanContext?.spanId === run?.spanContext().spanId)
    expect(run?.spanContext().traceId).toBe(result.traceId)
    expect(chat?.kind).toBe(KIND.CLIENT)
    expect(chat?.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 70,
      'gen_ai.usage.output_tokens': 7,
      'llm_tenant.usage.estimated': false,
    })
    expect(chat?.events.map((e) => e.name)).toEqual(['llm_tenant.admission', 'llm_tenant.settle'])
    expect(run?.attributes).toMatchObject({ 'gen_ai.response.model': 'gpt-4o-mini', 'gen_ai.usage.output_tokens': 7, 'llm_tenant.attempts': 1 })
  })

  it('an open hold is observed while its call runs', async () => {
    const runtime = createLlmRuntime(db().client, {
      config: { telemetry: { meterProvider: sdk.meterProvider } },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-observability-tests-0002' } },
    })
    const slow = runtime.defineAgent({ name: 'Slow', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    emulator.script('gpt-4o-mini', { kind: 'hang', ms: 300 })
    const running = slow.run('wait', { tenant: 'acme' }).catch(() => undefined)
    // Polled, not slept for: the provider hangs until the hold is seen (or the 300 ms end it).
    let seen = 0
    for (let i = 0; i < 200 && seen === 0; i++) {
      // Summed over both configs recording to this meter provider (the suite's runtime has none open).
      seen = pointValue(metric(await sdk.metrics(), METRICS.openHolds), {})
      if (seen === 0) await new Promise((r) => setTimeout(r, 5))
    }
    expect(seen).toBe(1)
    await running
    expect(pointValue(metric(await sdk.metrics(), METRICS.openHolds), {})).toBe(0)
  })
})
