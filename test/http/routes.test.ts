/**
 * Every route of the HTTP API over real HTTP (node:http on 127.0.0.1, fetch and the official OpenAI
 * SDK), on both databases: what each answers, what it writes (ledger rows with the key and the
 * request id, audit events with the key as actor), and the 401 / 403 / 404 / 409 / 429 answers.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAuditLog, createLedger, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { call, eventually, startApi, type Api } from './server.ts'

const json = async (r: Response) => (await r.json()) as any
const post = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) })

describe.each(DATABASES)('HTTP API routes on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  const ledger = () => createLedger(db().client)
  const run = (key: string, input = 'hello', agent = 'support') => call(api, `/v1/agents/${agent}/run`, { key, ...post({ input }) })

  beforeAll(async () => {
    api = await startApi(db())
    await new TenantStore(db().client).update('acme', { limits: { dailyExecutions: 1000, monthlyCost: '50' }, rateLimits: { requestsPerDay: 1000 } })
  })
  afterAll(async () => api?.close())

  it('POST /v1/agents/:name/run answers the run and records it with the key and the request id', async () => {
    const r = await run(api.acme.secret, 'Where is my order?')
    expect(r.status).toBe(200)
    const requestId = r.headers.get('x-request-id')!
    expect(requestId).toMatch(/^req_[0-9a-f]{32}$/)
    const body = await json(r)
    expect(body).toMatchObject({ text: 'Echo: Where is my order?', model: 'gpt-4o-mini', traceId: requestId, steps: 1 })
    expect(body.cost).toMatch(/^0\.\d+$/)
    const row = (await ledger().recentExecutions({ tenantId: 'acme', limit: 1 }))[0]
    expect(row).toMatchObject({ id: body.executionId, status: 'success', apiKeyId: api.acme.keyId, traceId: requestId, metadata: { requestId } })
    expect(row.totalCost.toFixed()).toBe(body.cost)
  })

  it('the official OpenAI SDK calls the run and usage routes with the tenant key as its API key', async () => {
    const client = new OpenAI({ apiKey: api.acme.secret, baseURL: `${api.base}/v1`, maxRetries: 0 })
    const result = (await client.post('/agents/support/run', { body: { input: 'from the SDK' } })) as any
    expect(result.text).toBe('Echo: from the SDK')
    const usage = (await client.get('/usage', { query: { period: 'today' } })) as any
    expect(usage.tenantId).toBe('acme')
    const unauthorized = new OpenAI({ apiKey: 'sk_test_not-a-key', baseURL: `${api.base}/v1`, maxRetries: 0 })
    const err = await unauthorized.get('/usage').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    expect((err as any).error).toMatchObject({ type: 'invalid_api_key' })
    const missing = await client.post('/agents/nope/run', { body: { input: 'x' } }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('GET /v1/usage: cost, tokens, executions, budgets, rate windows and plan of the key’s tenant', async () => {
    const r = await call(api, '/v1/usage?period=today', { key: api.acme.secret })
    expect(r.status).toBe(200)
    const u = await json(r)
    const summary = await ledger().usageSummary({ tenantId: 'acme', period: 'today' })
    expect(u).toMatchObject({ tenantId: 'acme', cost: summary.cost.toFixed(), tokens: summary.tokens, executions: summary.executions, plan: null })
    expect(u.period).toMatchObject({ name: 'today', timeZone: 'UTC' })
    expect(u.budgets.dailyExecutions).toEqual({
      limit: 1000,
      used: summary.executions,
      reserved: 0,
      remaining: 1000 - summary.executions,
      percentage: Math.round(summary.executions * 10) / 100,
      enforcement: 'hard',
      source: 'tenant',
    })
    expect(u.budgets.monthlyCost).toMatchObject({ limit: '50', source: 'tenant' })
    expect(u.budgets.dailyCost).toMatchObject({ limit: null, remaining: null, percentage: null, source: null })
    expect(u.rateLimits).toEqual([expect.objectContaining({ name: 'requestsPerDay', limit: 1000, source: 'tenant', window: 'day' })])
    expect(u.rateLimits[0].remaining).toBeLessThan(1000)
    expect(Date.parse(u.rateLimits[0].resetsAt)).toBeGreaterThan(Date.now() - 1000)
    // globex sees its own (nothing)
    const g = await json(await call(api, '/v1/usage', { key: api.globex.secret }))
    expect(g).toMatchObject({ tenantId: 'globex', executions: 0, cost: '0' })
  })

  it('GET /v1/usage/daily, /by-agent, /by-model, /by-key', async () => {
    const today = new Date().toISOString().slice(0, 10)
    const daily = await json(await call(api, `/v1/usage/daily?from=${today}&to=${today}`, { key: api.acme.secret }))
    const summary = await ledger().usageSummary({ tenantId: 'acme', period: 'today' })
    expect(daily).toEqual({
      tenantId: 'acme',
      timeZone: 'UTC',
      from: today,
      to: today,
      data: [{ date: today, cost: summary.cost.toFixed(), tokens: summary.tokens, executions: summary.executions }],
    })
    const month = await json(await call(api, '/v1/usage/daily', { key: api.acme.secret }))
    expect(month.data).toHaveLength(30)
    expect(month.data.at(-1).date).toBe(today)
    const byAgent = await json(await call(api, '/v1/usage/by-agent?period=today', { key: api.acme.secret }))
    expect(byAgent.data).toEqual([{ agentType: 'support', cost: summary.cost.toFixed(), tokens: summary.tokens, executions: summary.executions }])
    const byModel = await json(await call(api, '/v1/usage/by-model', { key: api.acme.secret }))
    expect(byModel.data.map((d: any) => d.model)).toEqual(['gpt-4o-mini'])
    const byKey = await json(await call(api, '/v1/usage/by-key', { key: api.acme.secret }))
    expect(byKey.data).toEqual([expect.objectContaining({ apiKeyId: api.acme.keyId, name: 'acme-main', executions: summary.executions })])
    for (const [q, param] of [
      ['from=2026-02-30', 'from'],
      ['from=2026-12-05&to=2026-12-01', 'from'],
      ['from=2024-01-01&to=2026-01-01', 'to'],
    ]) {
      const r = await call(api, `/v1/usage/daily?${q}`, { key: api.acme.secret })
      expect([r.status, (await json(r)).error.param]).toEqual([400, param])
    }
  })

  it('GET /v1/executions pages newest first with filters; GET /v1/executions/:id is 404 for another tenant', async () => {
    for (let i = 0; i < 3; i++) expect((await run(api.globex.secret, `g${i}`)).status).toBe(200)
    expect((await run(api.globex.secret, 'w', 'writer')).status).toBe(200)
    const own = await ledger().recentExecutions({ tenantId: 'globex', limit: 100 })
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: any = await json(await call(api, `/v1/executions?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key: api.globex.secret }))
      expect(page.data.length).toBeLessThanOrEqual(2)
      seen.push(...page.data.map((e: any) => e.id))
      cursor = page.nextCursor
    } while (cursor)
    expect(seen).toEqual(own.map((r) => r.id))
    const writer = await json(await call(api, '/v1/executions?agent=writer&status=success', { key: api.globex.secret }))
    expect(writer.data.map((e: any) => e.agentType)).toEqual(['writer'])
    expect((await json(await call(api, '/v1/executions?status=refused', { key: api.globex.secret }))).data).toEqual([])
    const one = await call(api, `/v1/executions/${own[0].id}`, { key: api.globex.secret })
    expect(one.status).toBe(200)
    expect(await json(one)).toMatchObject({ id: own[0].id, apiKeyId: api.globex.keyId, totalCost: own[0].totalCost.toFixed() })
    const other = await call(api, `/v1/executions/${own[0].id}`, { key: api.acme.secret })
    const unknown = await call(api, '/v1/executions/00000000-0000-4000-8000-000000000000', { key: api.acme.secret })
    expect([other.status, unknown.status]).toEqual([404, 404])
    const strip = (b: any) => ({ ...b.error, requestId: undefined })
    expect(strip(await json(other))).toEqual(strip(await json(unknown)))
  })

  it('API keys: create (201, secret once), list, rotate with grace, revoke (then 403), revoke twice (409) — audited with the key as actor', async () => {
    const created = await call(api, '/v1/api-keys', {
      key: api.acme.secret,
      ...post({ name: 'ci', rateLimits: { requestsPerMinute: 30 }, limits: { dailyCost: '1.50' } }),
    })
    expect(created.status).toBe(201)
    const createdId = created.headers.get('x-request-id')
    const { key, secret } = await json(created)
    expect(secret).toMatch(/^sk_test_/)
    expect(key).toMatchObject({ name: 'ci', rateLimits: { requestsPerMinute: 30 }, limits: { dailyCost: '1.5' }, revokedAt: null })
    expect(JSON.stringify(key)).not.toContain(secret)
    expect((await call(api, '/v1/usage', { key: secret })).status).toBe(200)
    const list = await json(await call(api, '/v1/api-keys', { key: api.acme.secret }))
    expect(list.data.map((k: any) => k.name)).toEqual(['acme-main', 'ci'])
    expect(JSON.stringify(list)).not.toMatch(/sk_test_[0-9A-Za-z]{30}/)

    const rotated = await call(api, `/v1/api-keys/${key.id}/rotate`, { key: api.acme.secret, ...post({ gracePeriod: '1h' }) })
    expect(rotated.status).toBe(200)
    const r = await json(rotated)
    expect(r.key.id).toBe(key.id)
    expect(Date.parse(r.previousSecretRetiresAt) - Date.now()).toBeGreaterThan(3_500_000)
    expect((await call(api, '/v1/usage', { key: secret })).status).toBe(200) // in its grace period
    expect((await call(api, '/v1/usage', { key: r.secret })).status).toBe(200)
    // Rotation with an empty body: no grace
    const again = await call(api, `/v1/api-keys/${key.id}/rotate`, { key: api.acme.secret, method: 'POST' })
    expect(again.status).toBe(200)
    const newest = (await json(again)).secret
    expect((await call(api, '/v1/usage', { key: r.secret })).status).toBe(403)

    const revoked = await call(api, `/v1/api-keys/${key.id}`, { key: api.acme.secret, method: 'DELETE' })
    expect(revoked.status).toBe(200)
    const revokedId = revoked.headers.get('x-request-id')
    expect((await json(revoked)).key.revokedAt).not.toBeNull()
    const refused = await call(api, '/v1/usage', { key: newest })
    expect([refused.status, (await json(refused)).error.type]).toEqual([403, 'api_key_revoked'])
    const twice = await call(api, `/v1/api-keys/${key.id}`, { key: api.acme.secret, method: 'DELETE' })
    expect([twice.status, (await json(twice)).error.type]).toEqual([409, 'conflict'])
    expect((await call(api, `/v1/api-keys/${key.id}/rotate`, { key: api.acme.secret, method: 'POST' })).status).toBe(409)

    const events = (await createAuditLog(db().client).events({ tenantId: 'acme', action: ['api_key.created', 'api_key.rotated', 'api_key.revoked'] })).events
    const ours = events.filter((e) => e.target.id === key.id)
    expect(ours.map((e) => e.action)).toEqual(['api_key.revoked', 'api_key.rotated', 'api_key.rotated', 'api_key.created'])
    for (const e of ours) expect(e).toMatchObject({ actor: { type: 'api_key', id: api.acme.keyId }, apiKeyId: api.acme.keyId })
    expect(ours[0].requestId).toBe(revokedId)
    expect(ours[3].requestId).toBe(createdId)
  })

  it('403 for an expired key and for a deactivated tenant', async () => {
    const expired = await api.keys.createApiKey('globex', { name: 'old', expiresAt: new Date(Date.now() - 1000) })
    const r = await call(api, '/v1/usage', { key: expired.secret })
    expect([r.status, (await json(r)).error.type]).toEqual([403, 'api_key_expired'])
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'hooli', enforcement: 'hard' })
    const hooli = await api.keys.createApiKey('hooli', { name: 'main' })
    expect((await call(api, '/v1/usage', { key: hooli.secret })).status).toBe(200)
    await store.update('hooli', { active: false })
    await eventually(async () => {
      const res = await call(api, '/v1/usage', { key: hooli.secret })
      expect([res.status, (await json(res)).error.type]).toEqual([403, 'tenant_inactive'])
    })
  })

  it('429 rate_limited: Retry-After in whole seconds, RateLimit-Policy / RateLimit, the error shape; the refusal row has the key and request id', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'initech', enforcement: 'hard', rateLimits: { requestsPerMinute: 2 } })
    const { secret, key } = await api.keys.createApiKey('initech', { name: 'main' })
    expect((await run(secret)).status).toBe(200)
    expect((await run(secret)).status).toBe(200)
    const r = await run(secret)
    expect(r.status).toBe(429)
    const retry = Number(r.headers.get('retry-after'))
    expect(Number.isInteger(retry) && retry >= 1 && retry <= 30).toBe(true)
    expect(r.headers.get('ratelimit-policy')).toBe('"requests-minute";q=2;w=60')
    expect(r.headers.get('ratelimit')).toMatch(/^"requests-minute";r=0;t=\d+$/)
    const body = await json(r)
    expect(body.error).toMatchObject({
      type: 'rate_limited',
      limitType: 'requests',
      limitName: 'requestsPerMinute',
      window: 'minute',
      retryAfter: retry,
      limit: 2,
    })
    expect(body.error.requestId).toBe(r.headers.get('x-request-id'))
    const [refused] = await ledger().refusedExecutions({ tenantId: 'initech' })
    expect(refused).toMatchObject({
      apiKeyId: key.id,
      traceId: body.error.requestId,
      metadata: { requestId: body.error.requestId },
      errorClass: 'RateLimitExceededError',
    })
    // The OpenAI SDK sees its own RateLimitError, with the header it retries on.
    const client = new OpenAI({ apiKey: secret, baseURL: `${api.base}/v1`, maxRetries: 0 })
    const err = (await client.post('/agents/support/run', { body: { input: 'x' } }).catch((e: unknown) => e)) as any
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect(err.error.type).toBe('rate_limited')
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  })

  it('429 from a key’s own rate limit: the RateLimit headers name the key’s window beside the tenant’s', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'keyed-429', enforcement: 'hard', rateLimits: { requestsPerMinute: 10 } })
    const { secret } = await api.keys.createApiKey('keyed-429', { name: 'ci', rateLimits: { requestsPerMinute: 1 } })
    expect((await run(secret)).status).toBe(200)
    const r = await run(secret)
    expect(r.status).toBe(429)
    expect((await json(r)).error).toMatchObject({ type: 'rate_limited', scope: 'api_key', limit: 1 })
    const policy = r.headers.get('ratelimit-policy') ?? ''
    expect(policy).toContain('"requests-minute";q=10;w=60')
    expect(policy).toContain('"api_key-requests-minute";q=1;w=60')
  })

  it('429 budget_exceeded for a hard budget, with Retry-After until the day resets', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'umbrella', enforcement: 'hard', limits: { dailyExecutions: 1 } })
    const { secret } = await api.keys.createApiKey('umbrella', { name: 'main' })
    expect((await run(secret)).status).toBe(200)
    const r = await run(secret)
    expect(r.status).toBe(429)
    const body = await json(r)
    const midnight = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`).getTime() + 86_400_000
    const retry = Number(r.headers.get('retry-after'))
    expect(Math.abs(retry - Math.ceil((midnight - Date.now()) / 1000))).toBeLessThanOrEqual(5)
    expect(body.error).toMatchObject({
      type: 'budget_exceeded',
      limitType: 'dailyExecutions',
      window: 'day',
      retryAfter: retry,
      limit: 1,
      current: 1,
      scope: 'tenant',
    })
    expect(body.error.message).toContain('dailyExecutions')
  })

  it('404 for unknown routes and agents, 405 with Allow for a known path with another method; openapi.json needs no key', async () => {
    expect((await call(api, '/v1/nothing', { key: api.acme.secret })).status).toBe(404)
    expect((await call(api, '/v1/agents/ghost/run', { key: api.acme.secret, ...post({ input: 'x' }) })).status).toBe(404)
    const r = await call(api, '/v1/usage', { key: api.acme.secret, method: 'PUT' })
    expect([r.status, r.headers.get('allow')]).toEqual([405, 'GET'])
    expect((await fetch(`${api.base.replace('/api/llm', '')}/elsewhere`)).status).toBe(404)
    const doc = await fetch(`${api.base}/openapi.json`)
    expect([doc.status, (await json(doc)).openapi]).toEqual([200, '3.1.0'])
  })
})
