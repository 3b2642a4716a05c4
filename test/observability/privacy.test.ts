/**
 * What observability must not expose, on SQLite and PostgreSQL:
 * - with `tenantAttribute: 'off'` (the default) no span names the tenant — not in a name, an
 *   attribute, an event or a status message — through a success, a budget refusal, a rate-window
 *   refusal, an inactive tenant, a missing key, an open breaker and a provider error (the errors'
 *   own messages name the tenant);
 * - the HTTP API refuses a `/metrics` endpoint without a bearer token, at creation;
 * - its fallback error report (no onError, no logger) prints the redacted error only;
 * - the fail-open warning is written at most once per 10 s per config.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys, createLlmRuntime, InvalidArgumentError, TenantStore } from '../../src/index.ts'
import { createLlmHttpHandler } from '../../src/http/index.ts'
import { createPrometheusMetrics } from '../../src/observability/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { captureOutput, render } from '../support/leak-scan.ts'
import { startSdk } from './sdk.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

describe.each(DATABASES)('the tenant never reaches spans with tenantAttribute off on %s', (kind) => {
  const db = useDatabase(kind)

  it('0 hits in names, attributes, events and statuses', async () => {
    const sdk = startSdk()
    const tag = randomBytes(6).toString('hex')
    const tenants = { ok: `ok-${tag}`, broke: `broke-${tag}`, limited: `limited-${tag}`, gone: `gone-${tag}`, keyless: `keyless-${tag}`, flaky: `flaky-${tag}` }
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: tenants.ok })
    await store.upsert({ tenantId: tenants.flaky })
    await store.upsert({ tenantId: tenants.broke, enforcement: 'hard', limits: { dailyExecutions: 0 } })
    await store.upsert({ tenantId: tenants.limited, enforcement: 'hard', rateLimits: { requestsPerMinute: 0 } })
    await store.upsert({ tenantId: tenants.gone, active: false })
    await store.upsert({ tenantId: tenants.keyless })
    const runtime = createLlmRuntime(db().client, {
      config: { refusalBackoffMs: 0, telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider } },
      providers: { openai: { baseURL: emulator.openaiBaseURL } },
      tenantApiKeys: async (t): Promise<Record<string, string>> => (t.tenantId === tenants.keyless ? {} : { openai: 'sk-privacy-tests-0001' }),
    })
    const breaker = { errors: 1, withinSeconds: 60, cooldownSeconds: 600 }
    const agent = runtime.defineAgent({ name: 'Private', provider: 'openai', model: 'gpt-4o-mini', retries: 0, circuitBreaker: breaker })
    const errors: unknown[] = []
    const attempt = (input: string, tenant: string) => agent.run(input, { tenant }).catch((e) => void errors.push(e))
    const saved = process.env.OPENAI_API_KEY
    delete process.env.OPENAI_API_KEY
    try {
      await attempt('fine', tenants.ok)
      await attempt('refused', tenants.broke)
      await attempt('limited', tenants.limited)
      await attempt('inactive', tenants.gone)
      await attempt('no key', tenants.keyless)
      emulator.script('gpt-4o-mini', { kind: 'error', status: 500, message: `upstream failed for ${tenants.flaky}` })
      await attempt('fails', tenants.flaky) // opens the tenant's breaker (1 error)
      await attempt('breaker open', tenants.flaky)
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved
    }
    const names = errors.map((e) => (e as Error).name)
    expect(names).toEqual([
      'BudgetExceededError',
      'RateLimitExceededError',
      'TenantInactiveError',
      'MissingApiKeyError',
      'AllModelsExhaustedError',
      'CircuitBreakerOpenError',
    ])
    // The errors themselves name their tenant: that is what must not be copied into spans.
    expect(errors.filter((e) => Object.values(tenants).some((t) => String((e as Error).message).includes(t))).length).toBeGreaterThan(2)
    const spans = sdk.spans()
    expect(spans.filter((s) => s.name.startsWith('invoke_agent '))).toHaveLength(7)
    const text = render(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })))
    for (const id of Object.values(tenants)) expect(text.includes(id), id).toBe(false)
    expect(text.includes(tag)).toBe(false)
    const refused = spans.find((s) => s.status.message === 'BUDGET_EXCEEDED')
    expect(refused?.attributes['error.type']).toBe('BudgetExceededError')
    await sdk.shutdown()
  })
})

describe.each(DATABASES)('the HTTP API’s /metrics and fallback error report on %s', (kind) => {
  const db = useDatabase(kind)

  it('a metrics endpoint without a bearer token is refused at creation, naming the field', async () => {
    const open = await createPrometheusMetrics()
    const guarded = await createPrometheusMetrics({ bearerToken: 'a-scrape-token-0123456789' })
    try {
      const apiKeys = createApiKeys(db().client)
      const err = (() => {
        try {
          createLlmHttpHandler(db().client, { apiKeys, metrics: open.handler })
        } catch (e) {
          return e
        }
      })()
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err).toMatchObject({ field: 'options.metrics' })
      expect((err as InvalidArgumentError).allowed).toContain('bearerToken')
      expect(() => createLlmHttpHandler(db().client, { apiKeys, metrics: guarded.handler })).not.toThrow()
      // A hand-written endpoint cannot say it checks a token either.
      expect(() => createLlmHttpHandler(db().client, { apiKeys, metrics: async () => new Response('') })).toThrow(InvalidArgumentError)
    } finally {
      await open.shutdown()
      await guarded.shutdown()
    }
  })

  it('without onError or a logger, a 500 is printed redacted', async () => {
    const secret = `sk-CANARY-vault-${randomBytes(10).toString('hex')}`
    await new TenantStore(db().client).upsert({ tenantId: 'acme' })
    const runtime = createLlmRuntime(db().client, {
      providers: { openai: { baseURL: emulator.openaiBaseURL } },
      tenantApiKeys: async () => {
        throw new Error(`key vault unreachable while reading ${secret}`)
      },
    })
    runtime.defineAgent({ name: 'support', provider: 'openai', model: 'gpt-4o-mini' })
    const apiKeys = createApiKeys(db().client, { config: runtime.config })
    const { secret: tenantKey } = await apiKeys.createApiKey('acme', { name: 'fallback' })
    const api = createLlmHttpHandler(db().client, { apiKeys, runtime })
    const output = captureOutput()
    let status = 0
    try {
      const res = await api(
        new Request('http://local/v1/agents/support/run', {
          method: 'POST',
          headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ input: 'hi' }),
        }),
      )
      status = res.status
    } finally {
      output.restore()
    }
    expect(status).toBe(500)
    const printed = output.text()
    expect(printed).toContain('[prisma-llm-tenant/http] req_')
    expect(printed).toContain('key vault unreachable')
    expect(printed).not.toContain(secret)
    expect(printed).not.toContain(secret.slice(-12))
    expect(printed).not.toContain(tenantKey)
  })
})

describe.each(DATABASES)('the fail-open warning is rate-limited on %s', (kind) => {
  const db = useDatabase(kind)

  it('20 fail-open admissions in a row: one warning', async () => {
    const warned: Array<Record<string, unknown>> = []
    const runtime = createLlmRuntime(db().client, {
      config: {
        failMode: 'open',
        logger: { warn: (obj) => void warned.push(obj), error: () => undefined },
        tenantConfigResolver: () => {
          throw new Error('config store down')
        },
      },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-privacy-tests-0002' } },
    })
    await new TenantStore(db().client).upsert({ tenantId: 'open-1' })
    const agent = runtime.defineAgent({ name: 'Open', provider: 'openai', model: 'gpt-4o-mini' })
    for (let i = 0; i < 20; i++) expect((await agent.run('hi', { tenant: 'open-1' })).text).toBe('Echo: hi')
    const failOpen = warned.filter((w) => w.agentType === 'Open')
    expect(failOpen).toHaveLength(1)
    expect(failOpen[0]).toMatchObject({ errorClass: 'Error', errorMessage: 'config store down' })
  })
})
