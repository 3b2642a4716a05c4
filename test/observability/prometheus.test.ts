/**
 * `/metrics` scraped over real HTTP on 127.0.0.1, on SQLite and PostgreSQL: the HTTP API serves it
 * (`LlmHttpOptions.metrics`) behind its bearer token, after agent runs made through the API itself
 * (a run, a streamed run, a refusal); and the standalone `metricsHandler` over a reader the app
 * attached to its own meter provider. Names, types, units, buckets, labels and values are read
 * from the text format.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLlmRuntime, TenantStore } from '../../src/index.ts'
import { createPrometheusMetrics, metricsHandler, OPERATION_DURATION_BUCKETS, type PrometheusMetrics } from '../../src/observability/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { call, eventually, startApi, type Api } from '../http/server.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { parseExposition, type Sample } from './sdk.ts'

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
const TOKEN = 'scrape-token-0123456789abcdef'

describe.each(DATABASES)('/metrics of the HTTP API on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  let prom: PrometheusMetrics
  const costs: number[] = []

  beforeAll(async () => {
    prom = await createPrometheusMetrics({ bearerToken: TOKEN })
    api = await startApi(db(), {
      config: { telemetry: { meterProvider: prom.meterProvider, tenantAttribute: { topN: 1 } } },
      handler: { metrics: prom.handler },
    })
    await new TenantStore(db().client).upsert({ tenantId: 'globex', enforcement: 'hard', limits: { dailyExecutions: 2 } })
    const run = (key: string, body: object) => call(api, '/v1/agents/support/run', { method: 'POST', key, body: JSON.stringify(body) })
    const costOf = async (res: Response) => Number(((await res.json()) as { cost: string }).cost)
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text: 'big', usage: { inputTokens: 1000, outputTokens: 500 } })
    costs.push(await costOf(await run(api.acme.secret, { input: 'one' })))
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text: 'small', usage: { inputTokens: 10, outputTokens: 5 } })
    costs.push(await costOf(await run(api.globex.secret, { input: 'two' })))
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text: 'streamed', usage: { inputTokens: 40, outputTokens: 12 } })
    const streamed = await run(api.acme.secret, { input: 'three', stream: true })
    expect(await streamed.text()).toContain('event: done')
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text: 'four', usage: { inputTokens: 7, outputTokens: 3 } })
    await run(api.globex.secret, { input: 'four' })
    expect((await run(api.globex.secret, { input: 'five' })).status).toBe(429) // dailyExecutions 2
  })
  afterAll(async () => {
    await api.close()
    await prom.shutdown()
  })

  it('asks for the bearer token; answers GET only', async () => {
    expect((await call(api, '/metrics')).status).toBe(401)
    expect((await call(api, '/metrics', { key: 'not-the-token-0123456789' })).status).toBe(401)
    expect((await call(api, '/metrics', { method: 'POST', key: TOKEN })).status).toBe(405)
    const ok = await call(api, '/metrics', { key: TOKEN })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  })

  it('serves the GenAI histograms with their units and semconv buckets', async () => {
    const text = await (await call(api, '/metrics', { key: TOKEN })).text()
    expect(text).toContain('# TYPE gen_ai_client_operation_duration histogram')
    expect(text).toContain('# UNIT gen_ai_client_operation_duration s')
    expect(text).toContain('# TYPE gen_ai_client_token_usage histogram')
    expect(text).toContain('# UNIT gen_ai_client_token_usage {token}')
    const samples = parseExposition(text)
    const chat = { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'gpt-4o-mini', otel_scope_name: 'prisma-llm-tenant' }
    const buckets = find(samples, 'gen_ai_client_operation_duration_bucket', chat)
    expect(buckets.map((b) => b.labels.le)).toEqual([...OPERATION_DURATION_BUCKETS.map(String), '+Inf'])
    expect(buckets.at(-1)?.value).toBe(4) // 3 runs + 1 stream answered; the refusal never reached the provider
    expect(find(samples, 'gen_ai_client_operation_duration_count', chat)[0].value).toBe(4)
    expect(find(samples, 'gen_ai_client_token_usage_sum', { ...chat, gen_ai_token_type: 'input' })[0].value).toBe(1000 + 10 + 40 + 7)
    expect(find(samples, 'gen_ai_client_token_usage_sum', { ...chat, gen_ai_token_type: 'output' })[0].value).toBe(500 + 5 + 12 + 3)
    expect(find(samples, 'gen_ai_client_token_usage_count', { ...chat, gen_ai_token_type: 'output' })[0].value).toBe(4)
  })

  it('serves cost, executions and refusals, with tenants beyond the top 1 folded into other', async () => {
    const samples = parseExposition(await (await call(api, '/metrics', { key: TOKEN })).text())
    const acmeCost = find(samples, 'llm_tenant_cost_total', { llm_tenant_tenant_id: 'acme' })
    expect(acmeCost).toHaveLength(1)
    expect(acmeCost[0].value).toBeGreaterThan(costs[0])
    expect(find(samples, 'llm_tenant_cost_total', { llm_tenant_tenant_id: 'other' })[0].value).toBeGreaterThanOrEqual(costs[1])
    expect(find(samples, 'llm_tenant_executions_total', { llm_tenant_tenant_id: 'acme', llm_tenant_execution_status: 'success' })[0].value).toBe(2)
    expect(find(samples, 'llm_tenant_executions_total', { llm_tenant_tenant_id: 'other', llm_tenant_execution_status: 'success' })[0].value).toBe(2)
    expect(find(samples, 'llm_tenant_executions_total', { llm_tenant_tenant_id: 'other', llm_tenant_execution_status: 'refused' })[0].value).toBe(1)
    expect(find(samples, 'llm_tenant_refusals_total', { llm_tenant_refusal_reason: 'dailyExecutions', llm_tenant_limit_scope: 'tenant' })[0].value).toBe(1)
    const tenants = new Set(samples.flatMap((s) => (s.labels.llm_tenant_tenant_id ? [s.labels.llm_tenant_tenant_id] : [])))
    expect([...tenants].sort()).toEqual(['acme', 'other'])
    await eventually(async () => {
      const now = parseExposition(await (await call(api, '/metrics', { key: TOKEN })).text())
      expect(find(now, 'llm_tenant_holds_open')[0].value).toBe(0)
      expect(find(now, 'llm_tenant_settles_pending')[0].value).toBe(0)
    })
  })
})

describe('metricsHandler over the app’s own meter provider and reader', () => {
  const db = useDatabase('sqlite')
  const emulator = new ProviderEmulator()
  beforeAll(async () => void (await emulator.start()))
  afterAll(async () => emulator.close())

  it('serves the same metrics on a port of its own', async () => {
    const reader = new PrometheusExporter({ preventServerStart: true })
    const meterProvider = new MeterProvider({ readers: [reader], resource: resourceFromAttributes({ 'service.name': 'billing-worker' }) })
    const handler = await metricsHandler(reader)
    const server = createServer(getRequestListener(handler))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const runtime = createLlmRuntime(db().client, {
        config: { telemetry: { meterProvider } },
        providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-standalone-metrics-0001' } },
      })
      await runtime.defineAgent({ name: 'Solo', provider: 'openai', model: 'gpt-4o-mini' }).run('hi', { tenant: null })
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).toMatch(/^target_info\{[^}]*service_name="billing-worker"[^}]*\} 1$/m)
      const samples = parseExposition(text)
      expect(find(samples, 'llm_tenant_executions_total', { llm_tenant_agent_type: 'Solo', llm_tenant_execution_status: 'success' })[0].value).toBe(1)
      // The tenant attribute is off by default: no tenant label at all.
      expect(samples.some((s) => 'llm_tenant_tenant_id' in s.labels)).toBe(false)
    } finally {
      server.close()
      await meterProvider.shutdown()
    }
  })
})
