/**
 * The dashboard under test: a node:http server on 127.0.0.1 running
 * `toNodeListener(createLlmDashboard(…))` over a database seeded through the library itself —
 * tenants, a plan, API keys, tracked calls with exact costs (successes, an error, a refusal by a
 * hard daily limit), an agent run against the provider emulator (a trace with a fallback), and
 * older days through the ledger's record API (explicit instants). Names, agent types and metadata
 * carry the XSS set. The session comes from headers the tests set (x-test-role, x-test-tenant).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApiKeys, createLedger, createLlmRuntime, createPlans, TenantStore } from '../../src/index.ts'
import { createLlmDashboard, toNodeListener, type LlmDashboardHandler } from '../../src/dashboard/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import type { TestDatabase } from '../support/databases.ts'

export const SECRET = 'a-dashboard-secret-for-the-tests-0123456789'
export const TIME_ZONE = 'Europe/Berlin'
export const XSS_NAME = '<img src=x onerror="window.__xss=1">Acme'
export const XSS_AGENT = '"><script>window.__xss=2</script>'
export const XSS_META = '<img src=x onerror=window.__xss=3>'
/** Historic days seeded per tenant acme (one row of $1.00 each, 1–5 days ago at noon). */
export const HISTORIC_DAYS = 5

export interface Seeded {
  base: string
  server: Server
  dashboard: LlmDashboardHandler
  emulator: ProviderEmulator
  acmeKeyId: string
  globexKeyId: string
  acmeExecutionId: string
  globexExecutionId: string
  close(): Promise<void>
}

/** Headers of a session: the test's auth callback reads them (a real app reads its own cookie). */
export function as(role: 'operator' | 'tenant' | 'none', tenantId = 'acme'): Record<string, string> {
  if (role === 'none') return {}
  return role === 'operator' ? { 'x-test-role': 'operator' } : { 'x-test-role': 'tenant', 'x-test-tenant': tenantId }
}

export async function seedDashboard(db: TestDatabase): Promise<Seeded> {
  const emulator = await new ProviderEmulator().start()
  const runtime = createLlmRuntime(db.client, {
    config: { timeZone: TIME_ZONE, refusalBackoffMs: 0 },
    providers: {
      openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-dash-openai' },
      anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-dash-a' },
    },
  })
  const store = new TenantStore(db.client)
  await store.upsert({ tenantId: 'acme', name: XSS_NAME, enforcement: 'soft', limits: { dailyCost: 100, monthlyCost: 1000 }, metadata: { note: XSS_META } })
  await store.upsert({ tenantId: 'globex', name: 'Globex', enforcement: 'hard', limits: { dailyCost: '0.10' } })
  await store.upsert({ tenantId: 'initech', name: 'Initech' })
  const plans = createPlans(db.client, runtime.config)
  await plans.definePlan({ key: 'pro', name: 'Pro', limits: { monthlyCost: 500 }, rateLimits: { requestsPerMinute: 600 } })
  await plans.definePlan({ key: 'free', name: 'Free', limits: { monthlyCost: 5 }, rateLimits: { requestsPerMinute: 60 } })
  await plans.changePlan('acme', 'pro')
  await plans.changePlan('globex', 'free')
  const keys = createApiKeys(db.client, { config: runtime.config, prefix: 'sk_dash' })
  const acmeKey = await keys.createApiKey('acme', { name: 'production' })
  const globexKey = await keys.createApiKey('globex', { name: 'globex-main' })

  // Today: acme 3 × $0.50 successes (one with the hostile agent type and metadata) and 1 error; globex $0.10 then a refusal.
  const b = runtime.budgets
  const ok = (cost: string) => async (c: { reportUsage(u: object): void }) =>
    c.reportUsage({ inputTokens: 100, outputTokens: 50, inputCost: cost, outputCost: '0' })
  let acmeExecutionId = ''
  await b.track('acme', { agentType: 'support', model: 'gpt-4o-mini', apiKeyId: acmeKey.key.id, metadata: { ticket: XSS_META } }, async (c) => {
    acmeExecutionId = c.executionId
    c.reportUsage({ inputTokens: 100, outputTokens: 50, inputCost: '0.50', outputCost: '0' })
  })
  await b.track('acme', { agentType: 'support', model: 'gpt-4o-mini', apiKeyId: acmeKey.key.id }, ok('0.50'))
  await b.track('acme', { agentType: XSS_AGENT, model: 'gpt-4o', metadata: { html: XSS_META, quote: '"><script>window.__xss=4</script>' } }, ok('0.50'))
  await b
    .track('acme', { agentType: 'support', model: 'gpt-4o-mini' }, async (c) => {
      c.reportUsage({ inputTokens: 10, outputTokens: 0, inputCost: '0', outputCost: '0' })
      throw new Error(`provider failed ${XSS_META}`)
    })
    .catch(() => undefined)
  let globexExecutionId = ''
  await b.track('globex', { agentType: 'writer', model: 'claude-haiku-4-5', apiKeyId: globexKey.key.id }, async (c) => {
    globexExecutionId = c.executionId
    c.reportUsage({ inputTokens: 100, outputTokens: 50, inputCost: '0.10', outputCost: '0' })
  })
  await b.track('globex', { agentType: 'writer', model: 'claude-haiku-4-5', estimate: { cost: '0.05' } }, ok('0.01')).catch(() => undefined)

  // An agent run whose first model fails and whose fallback answers: one trace, two rows.
  const agent = runtime.defineAgent({ name: 'helpdesk', provider: 'openai', model: 'gpt-4o', fallbackModels: ['gpt-4o-mini'], retries: 0 })
  emulator.script('gpt-4o', { kind: 'error', status: 500 })
  emulator.script('gpt-4o-mini', { kind: 'ok', text: 'Hello', usage: { inputTokens: 1000, cachedInputTokens: 0, outputTokens: 500, reasoningTokens: 0 } })
  await agent.run('hello', { tenant: 'acme' })

  // Older days through the ledger's record API with explicit instants.
  const ledger = createLedger(db.client, runtime.config)
  const now = Date.now()
  await ledger.recordExecutions(
    Array.from({ length: HISTORIC_DAYS }, (_, i) => ({
      tenantId: 'acme',
      agentType: 'support',
      model: 'gpt-4o-mini',
      inputCost: '1.00',
      startedAt: new Date(now - (i + 1) * 86_400_000),
      durationMs: 100,
    })),
  )

  const dashboard = createLlmDashboard(db.client, {
    runtime,
    apiKeys: keys,
    secret: SECRET,
    basePath: '/admin/llm',
    title: 'LLM usage',
    onError: (err) => console.error('dashboard error', err),
    auth: (request) => {
      const role = request.headers.get('x-test-role')
      if (role === 'operator') return { role: 'operator', actor: { type: 'user', id: 'op-1' } }
      if (role === 'tenant') return { role: 'tenant', tenantId: request.headers.get('x-test-tenant') ?? '', actor: { type: 'tenant_user', id: 'tu-1' } }
      return null
    },
  })
  const server = createServer(toNodeListener(dashboard))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}/admin/llm`,
    server,
    dashboard,
    emulator,
    acmeKeyId: acmeKey.key.id,
    globexKeyId: globexKey.key.id,
    acmeExecutionId,
    globexExecutionId,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await emulator.close()
    },
  }
}
