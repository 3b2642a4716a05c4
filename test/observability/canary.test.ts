/**
 * Canary secrets through everything observability emits, on SQLite and PostgreSQL: provider keys
 * (one sk-shaped, one not) and tenant API keys go through runs, streams, tool calls, provider
 * errors that echo the key, refusals, a fail-open admission and the HTTP API; then every span
 * (names, attributes, events, status), every exported metric, the `/metrics` text, every logger
 * entry and all console / stdout / stderr output are searched for each secret and its tails: 0 hits.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys, createLlmRuntime, TenantStore } from '../../src/index.ts'
import { createLlmHttpHandler, toNodeListener } from '../../src/http/index.ts'
import { createPrometheusMetrics } from '../../src/observability/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { captureOutput, render, renderError, scanForSecrets, type Haystack } from '../support/leak-scan.ts'
import { startSdk } from './sdk.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

describe.each(DATABASES)('canary secrets never reach spans, metrics, /metrics or logs on %s', (kind) => {
  const db = useDatabase(kind)

  it('0 hits', async () => {
    const providerKeys: Record<string, string> = {
      acme: `sk-CANARY-acme-${randomBytes(8).toString('hex')}`,
      globex: `CANARY-globex-${randomBytes(8).toString('hex')}`,
    }
    const keyOf = (tenantId: string): Record<string, string> => {
      const key = providerKeys[tenantId === 'flaky' ? 'acme' : tenantId]
      return key ? { openai: key } : {}
    }
    const sdk = startSdk()
    const scrapeToken = `scrape-CANARY-${randomBytes(12).toString('hex')}`
    const prom = await createPrometheusMetrics({ bearerToken: scrapeToken })
    const logged: Array<{ level: string; obj: unknown; msg?: string }> = []
    const logger = {
      warn: (obj: Record<string, unknown>, msg?: string) => void logged.push({ level: 'warn', obj, msg }),
      error: (obj: Record<string, unknown>, msg?: string) => void logged.push({ level: 'error', obj, msg }),
      info: (obj: Record<string, unknown>, msg?: string) => void logged.push({ level: 'info', obj, msg }),
    }
    const output = captureOutput()
    const errors: unknown[] = []
    const secrets = [...Object.values(providerKeys), scrapeToken]
    let metricsText = ''
    try {
      const store = new TenantStore(db().client)
      for (const t of ['acme', 'globex', 'flaky']) await store.upsert({ tenantId: t, enforcement: 'hard', limits: { dailyExecutions: 100 } })
      await store.upsert({ tenantId: 'inactive', active: false })
      const runtime = createLlmRuntime(db().client, {
        config: {
          refusalBackoffMs: 0,
          failMode: 'open',
          logger,
          // A resolver that fails for one tenant: admission fails open and warns through the logger.
          tenantConfigResolver: (id) => {
            if (id === 'flaky') throw new Error(`config store down (key ${providerKeys.acme})`)
            return null
          },
          telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider, tenantAttribute: { topN: 5 } },
        },
        providers: { openai: { baseURL: emulator.openaiBaseURL } },
        tenantApiKeys: async (t) => keyOf(t.tenantId),
      })
      // A second meter provider, the Prometheus one, on a runtime of the same database.
      const scraped = createLlmRuntime(db().client, {
        config: { refusalBackoffMs: 0, logger, telemetry: { meterProvider: prom.meterProvider, tenantAttribute: { topN: 5 } } },
        providers: { openai: { baseURL: emulator.openaiBaseURL } },
        tenantApiKeys: async (t) => keyOf(t.tenantId),
      })
      const tool = { name: 'lookup', description: 'x', parameters: { type: 'object' }, run: () => 'found' }
      const agents = [runtime, scraped].map((rt) => rt.defineAgent({ name: 'Canary', provider: 'openai', model: 'gpt-4o-mini', retries: 0, tools: [tool] }))
      const attempt = async (fn: () => Promise<unknown>) => fn().catch((err) => void errors.push(err))
      for (const agent of agents) {
        for (const tenant of ['acme', 'globex']) {
          await attempt(() => agent.run('hello', { tenant }))
          emulator.script('gpt-4o-mini', { kind: 'tool', name: 'lookup', arguments: { q: 'x' } })
          await attempt(() => agent.run('tool', { tenant }))
          emulator.script('gpt-4o-mini', { kind: 'error', status: 401 }) // echoes the key it was sent
          await attempt(() => agent.run('bad key', { tenant }))
          emulator.script('gpt-4o-mini', { kind: 'error', status: 500, message: `upstream saw key ${providerKeys[tenant]}` })
          await attempt(() => agent.run('server error', { tenant }))
          const stream = agent.stream('stream', { tenant })
          await attempt(async () => {
            for await (const d of stream) void d
            return stream.result
          })
        }
        await attempt(() => agent.run('inactive', { tenant: 'inactive' }))
        await attempt(() => agent.run('fail open', { tenant: 'flaky' })) // admission fails open (the first runtime's resolver)
      }

      // Tenant API keys over the HTTP API, whose handler also serves /metrics.
      const keys = createApiKeys(db().client, { config: scraped.config, prefix: 'sk_canary' })
      const issued = await keys.createApiKey('acme', { name: 'canary' })
      secrets.push(issued.secret)
      const handler = createLlmHttpHandler(db().client, { apiKeys: keys, runtime: scraped, agents: { canary: agents[1] }, metrics: prom.handler })
      const server = createServer(toNodeListener(handler))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      try {
        const post = (key: string, body: object) =>
          fetch(`${base}/v1/agents/canary/run`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
        expect((await post(issued.secret, { input: 'over http' })).status).toBe(200)
        expect((await post(`${issued.secret.slice(0, -2)}xx`, { input: 'wrong key' })).status).toBe(401)
        emulator.script('gpt-4o-mini', { kind: 'error', status: 500, message: `echo ${issued.secret} ${providerKeys.acme}` })
        await post(issued.secret, { input: 'provider error' })
        expect((await fetch(`${base}/metrics`)).status).toBe(401)
        metricsText = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${scrapeToken}` } })).text()
      } finally {
        server.closeAllConnections()
        server.close()
      }
    } finally {
      output.restore()
    }

    expect(emulator.requests.some((r) => r.apiKey === providerKeys.acme)).toBe(true)
    expect(emulator.requests.some((r) => r.apiKey === providerKeys.globex)).toBe(true)
    expect(logged.some((l) => l.level === 'warn' && /fail mode is 'open'/.test(l.msg ?? ''))).toBe(true)
    const spans = sdk.spans()
    expect(spans.length).toBeGreaterThan(20)
    expect(metricsText).toContain('llm_tenant_executions_total')
    const haystacks: Haystack[] = [
      ['spans', render(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, resource: s.resource.attributes })))],
      ['metrics', render(await sdk.metrics())],
      ['/metrics', metricsText],
      ['logger', render(logged)],
      ['console and stdio', output.text()],
    ]
    errors.forEach((e, i) => haystacks.push([`error ${i}`, renderError(e)]))
    const scan = scanForSecrets(secrets, haystacks)
    expect(scan.hits).toEqual([])
    expect(scan.searches).toBeGreaterThan(50)
    await sdk.shutdown()
    await prom.shutdown()
  }, 120_000)
})
