/**
 * Trace context, with a real async context manager (AsyncLocalStorage, as NodeSDK registers it),
 * on SQLite and PostgreSQL:
 * - the run's span is the active span while the run runs: a tool's nested agent run is its child,
 *   in the same trace, and the nested run's ledger traceId is the outer run's;
 * - a bare `track` in the app's own span adds events to that span, never attributes (not ours);
 * - the HTTP API joins the caller's trace (`traceparent`): the run's span is a child of the remote
 *   span and the ledger's traceId is that trace's id, the request id still in the rows' metadata;
 *   with an SDK and no `traceparent`, the run span's own trace id is the ledger's.
 */
import { context, propagation, trace, TraceFlags, type Context, type TextMapGetter, type TextMapPropagator } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLedger, createLlmRuntime, LlmBudgets, TenantStore, type AgentResult } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { call, startApi } from '../http/server.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { startSdk, type TestSdk } from './sdk.ts'

/** The W3C `traceparent` header, extracted only (what the SDK's W3CTraceContextPropagator does). */
const traceparent: TextMapPropagator = {
  inject: () => undefined,
  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const value = getter.get(carrier, 'traceparent')
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(Array.isArray(value) ? value[0] : (value ?? ''))
    if (!m) return ctx
    return trace.setSpanContext(ctx, { traceId: m[1], spanId: m[2], traceFlags: Number.parseInt(m[3], 16), isRemote: true })
  },
  fields: () => ['traceparent'],
}

const emulator = new ProviderEmulator()
let manager: AsyncLocalStorageContextManager
beforeAll(async () => {
  await emulator.start()
  manager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(manager)
  propagation.setGlobalPropagator(traceparent)
})
afterAll(async () => {
  propagation.disable()
  context.disable()
  manager.disable()
  await emulator.close()
})

describe.each(DATABASES)('the run span is the active span on %s', (kind) => {
  const db = useDatabase(kind)
  let sdk: TestSdk
  beforeAll(() => void (sdk = startSdk()))
  afterAll(async () => sdk.shutdown())

  it('a tool’s nested run is a child of the run, in its trace, with its ledger traceId', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'acme' })
    const runtime = createLlmRuntime(db().client, {
      config: { telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider } },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-context-tests-0001' } },
    })
    const inner = runtime.defineAgent({ name: 'Inner', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    let nested: AgentResult | undefined
    let activeInTool: string | undefined
    const tool = {
      name: 'ask',
      description: 'asks the inner agent',
      parameters: { type: 'object' },
      run: async () => {
        activeInTool = trace.getActiveSpan()?.spanContext().spanId
        nested = await inner.run('inner question', { tenant: 'acme' })
        return nested.text
      },
    }
    const outer = runtime.defineAgent({ name: 'Outer', provider: 'openai', model: 'gpt-4o', retries: 0, tools: [tool] })
    emulator.script('gpt-4o', { kind: 'tool', name: 'ask', arguments: {} })
    const result = await outer.run('outer question', { tenant: 'acme' })

    const spans = sdk.spans()
    const outerSpan = spans.find((s) => s.name === 'invoke_agent Outer')
    const innerSpan = spans.find((s) => s.name === 'invoke_agent Inner')
    expect(outerSpan && innerSpan).toBeTruthy()
    expect(activeInTool).toBe(outerSpan!.spanContext().spanId)
    expect(innerSpan!.parentSpanContext?.spanId).toBe(outerSpan!.spanContext().spanId)
    expect(innerSpan!.spanContext().traceId).toBe(outerSpan!.spanContext().traceId)
    const innerChat = spans.find((s) => s.name === 'chat gpt-4o-mini')
    expect(innerChat?.parentSpanContext?.spanId).toBe(innerSpan!.spanContext().spanId)
    // One trace, one ledger traceId: the outer run's two attempts and the nested run's attempt.
    expect(nested?.traceId).toBe(result.traceId)
    expect(result.traceId).toBe(outerSpan!.spanContext().traceId)
    const rows = (await createLedger(db().client).executions({ limit: 20 })).filter((r) => r.traceId === result.traceId)
    expect(rows.map((r) => r.agentType).sort()).toEqual(['Inner', 'Outer', 'Outer'])
    // The ledger trace id is on the run span from the start.
    expect(innerSpan!.attributes['llm_tenant.trace_id']).toBe(result.traceId)
  })

  it('a bare track in the app’s own span: events on it, no attributes of ours', async () => {
    const budgets = new LlmBudgets(db().client, { telemetry: { tracerProvider: sdk.tracerProvider } })
    const tracer = sdk.tracerProvider.getTracer('the-app')
    const executionId = await tracer.startActiveSpan('app work', async (span) => {
      try {
        return await budgets.track(null, { agentType: 'Bare', model: 'm' }, async (ctx) => {
          ctx.reportUsage({ inputTokens: 1, outputTokens: 1, inputCost: '0.001' })
          return ctx.executionId
        })
      } finally {
        span.end()
      }
    })
    const app = sdk.spans().find((s) => s.name === 'app work')
    expect(app?.events.map((e) => e.name)).toEqual(['llm_tenant.admission', 'llm_tenant.settle'])
    expect(app?.events[1].attributes).toMatchObject({ 'llm_tenant.execution.id': executionId, 'llm_tenant.cost.usd': 0.001 })
    expect(Object.keys(app?.attributes ?? {})).toEqual([])
    const [row] = (await createLedger(db().client).executions({ limit: 50 })).filter((r) => r.id === executionId)
    expect(row.traceId).toBe(app?.spanContext().traceId)
  })
})

describe.each(DATABASES)('the HTTP API joins the caller’s trace on %s', (kind) => {
  const db = useDatabase(kind)
  let sdk: TestSdk
  beforeAll(() => void (sdk = startSdk()))
  afterAll(async () => sdk.shutdown())

  it('traceparent → the run span’s parent, the ledger traceId; the request id in the metadata', async () => {
    const api = await startApi(db(), { config: { telemetry: { tracerProvider: sdk.tracerProvider } } })
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
      const parentSpanId = '00f067aa0ba902b7'
      const res = await call(api, '/v1/agents/support/run', {
        method: 'POST',
        key: api.acme.secret,
        headers: { traceparent: `00-${traceId}-${parentSpanId}-01` },
        body: JSON.stringify({ input: 'traced' }),
      })
      expect(res.status).toBe(200)
      const requestId = res.headers.get('x-request-id')
      const body = (await res.json()) as { traceId: string; executionId: string }
      expect(body.traceId).toBe(traceId)
      const run = sdk.spans().find((s) => s.name === 'invoke_agent support' && s.spanContext().traceId === traceId)
      expect(run?.parentSpanContext).toMatchObject({ traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED })
      const [row] = (await createLedger(db().client).executions({ tenant: { id: 'acme' }, limit: 20 })).filter((r) => r.id === body.executionId)
      expect(row).toMatchObject({ traceId, metadata: { requestId } })

      // An SDK and no traceparent: the run span's own (root) trace id.
      const plain = await call(api, '/v1/agents/support/run', { method: 'POST', key: api.acme.secret, body: JSON.stringify({ input: 'untraced' }) })
      const plainBody = (await plain.json()) as { traceId: string }
      expect(plainBody.traceId).toMatch(/^[0-9a-f]{32}$/)
      expect(plainBody.traceId).not.toBe(traceId)
      const root = sdk.spans().find((s) => s.name === 'invoke_agent support' && s.spanContext().traceId === plainBody.traceId)
      expect(root?.parentSpanContext).toBeUndefined()
    } finally {
      await api.close()
    }
  })
})
