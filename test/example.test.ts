import { execFileSync } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ProviderEmulator } from '../src/testing/index.ts'
import { createSupportApi } from '../examples/http-server.ts'
import { DATABASES, useDatabase } from './support/databases.ts'

// The example imports the package by name, as an app does; here that name is this repository's
// source (as for tsx, through tsconfig.json "paths"), like every other test file uses.
vi.mock('prisma-llm-tenant', () => import('../src/index.ts'))
vi.mock('prisma-llm-tenant/testing', () => import('../src/testing/index.ts'))

const root = new URL('..', import.meta.url).pathname

it('the example runs an agent for two tenants offline: own keys, usage, a soft event (once), a BudgetExceededError', () => {
  const env = { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' }
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), ['examples/two-tenants.ts'], { cwd: root, encoding: 'utf8', env })
  expect(out).toMatch(/offline provider: the bundled emulator at http:\/\/127\.0\.0\.1:\d+/)
  expect(out.match(/own key\)/g)).toHaveLength(5)
  expect(out).not.toContain('OTHER KEY')
  expect(out.match(/soft_limit_reached — tenant acme dailyCost/g)).toHaveLength(1)
  expect(out).toMatch(/refused before the provider: Budget exceeded: tenant "globex" dailyExecutions limit 2/)
  expect(out).toMatch(/^acme: \$0\.000028650 · 116 tokens · 3 executions/m)
  expect(out).toMatch(/^globex: \$0\.000020100 · 80 tokens · 2 executions/m)
  expect(out).toMatch(/^top spender: acme/m)
  expect(out).not.toContain('sk-acme-demo-key')
}, 60_000)

const ORGANIZATIONS_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
}

/** Start of the next day in Europe/Berlin after `at` (what a dailyExecutions refusal resets at). */
function nextBerlinMidnight(at: Date): Date {
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit' }).format(at)
  for (let h = 0; h <= 26; h++) {
    const candidate = new Date(`${day}T00:00:00Z`)
    candidate.setUTCHours(candidate.getUTCHours() + 24 - h)
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', day: '2-digit' }).format(
      candidate,
    )
    if (local.endsWith('00:00') && candidate > at) return candidate
  }
  throw new Error('no midnight found')
}

describe.each(DATABASES)('examples/http-server.ts over real HTTP on %s', (kind) => {
  const db = useDatabase(kind)
  const emulator = new ProviderEmulator()
  let base = ''
  let api: ReturnType<typeof createSupportApi>

  beforeAll(async () => {
    await emulator.start()
    await db().client.$executeRawUnsafe(ORGANIZATIONS_DDL[kind])
    api = createSupportApi(db().client, { providers: { openai: { baseURL: emulator.openaiBaseURL } }, config: { timeZone: 'Europe/Berlin' } })
    const acme = await api.prisma.organization.create({ data: { slug: 'acme', displayName: 'Acme', openaiApiKey: 'sk-acme-http-key' } })
    await acme.llmConfigure({ limits: { dailyExecutions: 2 }, enforcement: 'hard' })
    await api.prisma.organization.create({ data: { slug: 'globex', displayName: 'Globex', openaiApiKey: 'sk-globex-http-key' } })
    await api.prisma.organization.llmDeactivate('globex')
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise((resolve) => api?.server.close(resolve))
    await emulator.close()
  })

  const ask = (tenant: string | null, question: unknown = 'Where is my order?') =>
    fetch(`${base}/answers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(tenant === null ? {} : { 'x-tenant': tenant }) },
      body: JSON.stringify({ question }),
    })

  it("answers as the request's tenant, with its own key, until its budget refuses with 429 + Retry-After", async () => {
    for (const question of ['Where is my order?', 'Can I change the address?']) {
      const res = await ask('acme', question)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const body = await res.json()
      expect(body).toEqual({ answer: `Echo: ${question}`, model: 'gpt-4o-mini', cost: expect.stringMatching(/^0\.\d+$/), executionId: expect.any(String) })
      expect(emulator.requests.at(-1)?.apiKey).toBe('sk-acme-http-key')
    }
    const requests = emulator.requests.length

    const refusedAt = new Date()
    const res = await ask('acme', 'Do you ship to Norway?')
    expect(res.status).toBe(429)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const retryAfter = res.headers.get('retry-after')
    expect(retryAfter).toMatch(/^[1-9]\d*$/) // whole seconds
    const body = await res.json()
    const resetsAt = nextBerlinMidnight(refusedAt)
    expect(body).toEqual({
      error: 'budget_exceeded',
      message: expect.stringMatching(/^Budget exceeded: tenant "acme" dailyExecutions limit 2 would be exceeded \(current 2; agent SupportAgent; resets .+\)$/),
      scope: 'tenant',
      limitType: 'dailyExecutions',
      limit: 2,
      current: 2,
      retryAfter: resetsAt.toISOString(),
    })
    // Retry-After = seconds from the refusal until that reset, rounded up.
    const seconds = Number(retryAfter)
    expect(Math.abs(refusedAt.getTime() + seconds * 1000 - resetsAt.getTime())).toBeLessThan(5_000)
    expect(emulator.requests.length).toBe(requests) // refused before the provider
  })

  it('a deactivated tenant is 403, an unknown one 404, no tenant or a bad body 400', async () => {
    const inactive = await ask('globex')
    expect(inactive.status).toBe(403)
    expect(await inactive.json()).toEqual({ error: 'tenant_inactive', message: 'Tenant "globex" is inactive; its LLM calls are refused' })

    const unknown = await ask('initech')
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: string }).error).toBe('unknown_tenant')

    const missing = await ask(null)
    expect(missing.status).toBe(400)
    expect(((await missing.json()) as { error: string }).error).toBe('missing_tenant')

    const bad = await ask('acme', 42)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: string }).error).toBe('bad_request')
  })

  it("GET /usage and the ledger: two answers counted, each refusal a 'refused' row of its tenant", async () => {
    const res = await fetch(`${base}/usage`, { headers: { 'x-tenant': 'acme' } })
    expect(res.status).toBe(200)
    const usage = (await res.json()) as { cost: string; executions: number }
    expect(usage).toMatchObject({ tenant: 'acme', period: 'today', executions: 2 })

    const ledger = api.prisma.$llm.ledger
    const acme = await ledger.usageSummary({ tenantId: 'acme', period: 'today' })
    expect(acme.executions).toBe(2)
    expect(acme.cost.toFixed()).toBe(usage.cost)
    expect((await ledger.recentExecutions({ tenantId: 'acme' })).map((e) => e.status)).toEqual(['success', 'success'])
    const refused = await ledger.refusedExecutions({ tenantId: 'acme' })
    expect(refused.map((e) => [e.status, e.errorClass, e.agentType])).toEqual([['refused', 'BudgetExceededError', 'SupportAgent']])
    const globex = await ledger.refusedExecutions({ tenantId: 'globex' })
    expect(globex.map((e) => e.errorClass)).toEqual(['TenantInactiveError'])
    expect(await ledger.executionCount({ tenantId: 'globex' })).toBe(0)
    expect(await ledger.executionCount({ tenantId: 'initech' })).toBe(0) // 404: nothing ran, nothing recorded
  })
})
