/**
 * The observability options: bad input is a typed error naming the field and what is allowed; the
 * logger gets the warnings the library used to only emit as events (a settle that cannot be
 * written, on both databases, with the pending-settles gauge following it); with no SDK nothing is
 * recorded and runs are unchanged; a globally registered SDK is used even when registered after the
 * config was made.
 */
import { metrics, trace } from '@opentelemetry/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys, createLlmRuntime, defineLlmConfig, InvalidArgumentError, LlmBudgets, TenantStore } from '../../src/index.ts'
import { createLlmHttpHandler } from '../../src/http/index.ts'
import { createPrometheusMetrics, METRICS, metricsHandler } from '../../src/observability/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { metric, pointValue, startSdk } from './sdk.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const rejects = (fn: () => unknown, field: string, allowed: RegExp) => {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe(field)
    expect((err as InvalidArgumentError).allowed).toMatch(allowed)
    return
  }
  throw new Error(`no error for ${field}`)
}
const noop = () => undefined

describe('bad observability options', () => {
  it.each([
    [{ telemetry: 'on' }, 'config.telemetry', /an object/],
    [{ telemetry: { tenant: 'off' } }, 'config.telemetry.tenant', /tracerProvider, meterProvider, tenantAttribute/],
    [{ telemetry: { tenantAttribute: 'all' } }, 'config.telemetry.tenantAttribute', /'off', 'spans', \{ allowlist: string\[\] \}.*\{ topN: number \}/],
    [{ telemetry: { tenantAttribute: { topN: 5, allowlist: ['a'] } } }, 'config.telemetry.tenantAttribute', /allowlist/],
    [{ telemetry: { tenantAttribute: { topN: 0 } } }, 'config.telemetry.tenantAttribute.topN', /an integer from 1 to 1000/],
    [{ telemetry: { tenantAttribute: { topN: 2.5 } } }, 'config.telemetry.tenantAttribute.topN', /an integer from 1 to 1000/],
    [{ telemetry: { tenantAttribute: { topN: '10' } } }, 'config.telemetry.tenantAttribute.topN', /an integer/],
    [{ telemetry: { tenantAttribute: { topN: 1001 } } }, 'config.telemetry.tenantAttribute.topN', /1 to 1000/],
    [{ telemetry: { tenantAttribute: { allowlist: 'acme' } } }, 'config.telemetry.tenantAttribute.allowlist', /an array of 1 to 1000 tenant ids/],
    [{ telemetry: { tenantAttribute: { allowlist: [] } } }, 'config.telemetry.tenantAttribute.allowlist', /an array/],
    [{ telemetry: { tenantAttribute: { allowlist: ['acme', 7] } } }, 'config.telemetry.tenantAttribute.allowlist[1]', /a tenant id/],
    [{ telemetry: { tracerProvider: {} } }, 'config.telemetry.tracerProvider', /TracerProvider/],
    [{ telemetry: { meterProvider: 5 } }, 'config.telemetry.meterProvider', /MeterProvider/],
    [{ logger: 'pino' }, 'config.logger', /pino-compatible/],
    [{ logger: { warn: noop } }, 'config.logger.error', /pino-compatible/],
    [{ logger: { warn: noop, error: noop, debug: true } }, 'config.logger.debug', /a function/],
  ])('%j → %s', (config, field, allowed) => {
    rejects(() => defineLlmConfig(config as never), field, allowed)
  })

  it('the endpoint: a short token, an unknown option, a reader without collect', async () => {
    await expect(createPrometheusMetrics({ bearerToken: 'short' })).rejects.toMatchObject({
      field: 'options.bearerToken',
      message: expect.not.stringContaining('short'),
    })
    await expect(createPrometheusMetrics({ token: 'x' } as never)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(metricsHandler({} as never)).rejects.toMatchObject({ field: 'reader' })
  })
})

describe.each(DATABASES)('the logger and the pending-settles gauge on %s', (kind) => {
  const db = useDatabase(kind)

  it('a settle the database refuses is logged as a warning, counted as pending, then written', async () => {
    const sdk = startSdk()
    const logged: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
    const logger = { warn: (obj: Record<string, unknown>, msg?: string) => void logged.push({ level: 'warn', obj, msg }), error: noop }
    const budgets = new LlmBudgets(db().client, { logger, telemetry: { meterProvider: sdk.meterProvider } })
    const events: unknown[] = []
    budgets.config.events.on('settle_failed', (e) => events.push(e))
    await budgets.track('acme', { agentType: 'Warm', model: 'm' }, async () => 'warm')
    const result = await budgets.track('acme', { agentType: 'Settle', model: 'm' }, async (c) => {
      // The ledger table goes away while the call runs: its settle cannot be written.
      await db().rawQuery('ALTER TABLE llm_executions RENAME TO llm_executions_away')
      c.reportUsage({ inputTokens: 1, outputTokens: 1, inputCost: '0.001' })
      return 'answered'
    })
    expect(result).toBe('answered')
    expect(events).toHaveLength(1)
    expect(logged).toHaveLength(1)
    expect(logged[0]).toMatchObject({
      level: 'warn',
      msg: 'Settle failed three times: the outcome is kept and retried',
      obj: { library: 'prisma-llm-tenant', status: 'success' },
    })
    expect(typeof logged[0].obj.executionId).toBe('string')
    expect(typeof logged[0].obj.errorMessage).toBe('string')
    expect(pointValue(metric(await sdk.metrics(), METRICS.pendingSettles), {})).toBe(1)
    await db().rawQuery('ALTER TABLE llm_executions_away RENAME TO llm_executions')
    expect(await budgets.retryPendingSettles()).toBe(1)
    const after = await sdk.metrics()
    expect(pointValue(metric(after, METRICS.pendingSettles), {})).toBe(0)
    expect(pointValue(metric(after, METRICS.openHolds), {})).toBe(0)
    await sdk.shutdown()
  }, 30_000)

  it('refusal row not written, not logged: a refusal whose ledger row cannot be written is still refused, and logged', async () => {
    const logged: Array<{ obj: Record<string, unknown>; msg?: string }> = []
    const logger = { warn: (obj: Record<string, unknown>, msg?: string) => void logged.push({ obj, msg }), error: noop }
    const budgets = new LlmBudgets(db().client, { logger, refusalBackoffMs: 0 })
    await new TenantStore(db().client).upsert({ tenantId: 'closed', active: false })
    // The ledger table goes away: the refusal (an inactive tenant, decided from the tenant row) cannot be recorded.
    await db().rawQuery('ALTER TABLE llm_executions RENAME TO llm_executions_away')
    try {
      await expect(budgets.track('closed', { agentType: 'Refused', model: 'm' }, async () => 'never')).rejects.toMatchObject({ code: 'TENANT_INACTIVE' })
    } finally {
      await db().rawQuery('ALTER TABLE llm_executions_away RENAME TO llm_executions')
    }
    expect(logged).toHaveLength(1)
    expect(logged[0]).toMatchObject({ msg: 'Writing a refusal row failed', obj: { library: 'prisma-llm-tenant' } })
    expect(typeof logged[0].obj.executionId).toBe('string')
    expect(typeof logged[0].obj.errorMessage).toBe('string')
  }, 30_000)
})

describe.each(DATABASES)('the HTTP API reports unexpected errors to the logger on %s', (kind) => {
  const db = useDatabase(kind)

  it('a 500 is logged with its request id when there is no onError', async () => {
    const logged: Array<{ obj: Record<string, unknown>; msg?: string }> = []
    const config = defineLlmConfig({ logger: { warn: noop, error: (obj, msg) => void logged.push({ obj, msg }) } })
    const apiKeys = createApiKeys(db().client, { config })
    await new TenantStore(db().client).upsert({ tenantId: 'acme' })
    const { secret } = await apiKeys.createApiKey('acme', { name: 'logger' })
    const api = createLlmHttpHandler(db().client, { apiKeys, config })
    await db().rawQuery('ALTER TABLE llm_executions RENAME TO llm_executions_gone')
    try {
      const res = await api(new Request('http://local/v1/usage?period=today', { headers: { authorization: `Bearer ${secret}` } }))
      expect(res.status).toBe(500)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        msg: 'Unexpected error in the HTTP API',
        obj: { requestId: res.headers.get('x-request-id'), method: 'GET', path: '/v1/usage' },
      })
      expect(JSON.stringify(logged)).not.toContain(secret)
    } finally {
      await db().rawQuery('ALTER TABLE llm_executions_gone RENAME TO llm_executions')
    }
  })
})

describe.each(DATABASES)('without an SDK, and with a global one, on %s', (kind) => {
  const db = useDatabase(kind)
  const runtime = () => createLlmRuntime(db().client, { providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-global-sdk-tests-0001' } } })

  it('the HTTP API: a metrics option that is no endpoint', () => {
    rejects(() => createLlmHttpHandler(db().client, { apiKeys: {}, metrics: 'yes' as never }), 'options.metrics', /metrics endpoint/)
  })

  it('no SDK: the run is unchanged and its traceId is a fresh id, in the W3C trace-id form an SDK would give', async () => {
    const plain = runtime().defineAgent({ name: 'Plain', provider: 'openai', model: 'gpt-4o-mini' })
    const result = await plain.run('hi', { tenant: null })
    expect(result.text).toBe('Echo: hi')
    expect(result.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect((await plain.run('again', { tenant: null })).traceId).not.toBe(result.traceId)
  })

  it('a global SDK registered after the config was made: spans and metrics, the trace id in the ledger', async () => {
    const rt = runtime()
    const sdk = startSdk()
    trace.setGlobalTracerProvider(sdk.tracerProvider)
    metrics.setGlobalMeterProvider(sdk.meterProvider)
    try {
      const result = await rt.defineAgent({ name: 'Global', provider: 'openai', model: 'gpt-4o-mini' }).run('hi', { tenant: null })
      const run = sdk.spans().find((s) => s.name === 'invoke_agent Global')
      expect(run?.spanContext().traceId).toBe(result.traceId)
      expect(pointValue(metric(await sdk.metrics(), METRICS.executions), { 'llm_tenant.agent_type': 'Global' })).toBe(1)
      // A caller's own traceId wins over the span's.
      const own = await rt.defineAgent({ name: 'Own', provider: 'openai', model: 'gpt-4o-mini' }).run('hi', { tenant: null, traceId: 'my-trace' })
      expect(own.traceId).toBe('my-trace')
      expect(sdk.spans().find((s) => s.name === 'invoke_agent Own')?.attributes['llm_tenant.trace_id']).toBe('my-trace')
    } finally {
      trace.disable()
      metrics.disable()
      await sdk.shutdown()
    }
  })
})
