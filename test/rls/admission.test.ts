/**
 * The library's hot path and HTTP API with the shipped row-level security on, run as the service
 * role (a plain login role, a member of the role the policies let through — not a superuser, not
 * the owner): admission updates tenant, global, per-agent and per-key counters and rate windows in
 * its batched statements (PostgreSQL fast path) and refuses on each; the cross-tenant work (top
 * spenders, refreshing counters, hold expiry) sees every tenant. The app role sees only its own
 * tenant's share of what admission wrote, and admission on the app role fails closed: it refuses
 * the call instead of admitting it uncounted.
 */
import { describe, expect, it } from 'vitest'
import { BudgetExceededError, createApiKeys, createLedger, LlmBudgets, RateLimitExceededError, TenantStore } from '../../src/index.ts'
import { withTenantDb } from '../../src/db/rls.ts'
import { POSTGRES_URL } from '../support/databases.ts'
import { useRlsDatabase } from '../support/rls.ts'
import { call as httpCall, startApi } from '../http/server.ts'

const call = { agentType: 'Support', model: 'gpt-4o-mini', estimate: { cost: '0.001', tokens: 100 } }
const usage = async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputTokens: 60, outputTokens: 40, inputCost: '0.0003', outputCost: '0.0002' })

describe.skipIf(!POSTGRES_URL)('admission and the HTTP API with row-level security on (service role)', () => {
  const rls = useRlsDatabase()

  it('admission updates tenant and global counters and rate windows, and refuses on each, as the service role', async () => {
    const { service, db } = rls()
    const store = new TenantStore(service)
    await store.upsert({ tenantId: 'acme', enforcement: 'hard', limits: { dailyExecutions: 5 } })
    await store.upsert({ tenantId: 'globex', enforcement: 'hard', rateLimits: { requestsPerMinute: 2 } })
    const keys = createApiKeys(service)
    const key = await keys.createApiKey('acme', { name: 'prod', limits: { dailyExecutions: 2 } })
    const budgets = new LlmBudgets(service, { budgets: { globalDailyExecutions: 10, enforcement: 'hard' }, refusalBackoffMs: 0 })
    const withKey = { ...call, apiKeyId: key.key.id }
    // Concurrent calls of both tenants: batched into shared statements on the fast path.
    await Promise.all([budgets.track('acme', withKey, usage), budgets.track('globex', call, usage), budgets.track('acme', call, usage)])
    await budgets.track('acme', withKey, usage)
    await expect(budgets.track('acme', withKey, usage)).rejects.toMatchObject({ limitType: 'dailyExecutions', scope: 'api_key' }) // the key's 2
    await budgets.track('acme', call, usage)
    await budgets.track('acme', call, usage)
    await expect(budgets.track('acme', call, usage)).rejects.toMatchObject({ limitType: 'dailyExecutions', scope: 'tenant' }) // the tenant's 5
    await budgets.track('globex', call, usage)
    await expect(budgets.track('globex', call, usage)).rejects.toBeInstanceOf(RateLimitExceededError) // 2 a minute
    const counters = await db.rawQuery<{ scope: string; tenant_id: string; n: string }>(
      `SELECT scope, tenant_id, spent_executions::text AS n FROM llm_budget_counters WHERE period = 'day' AND agent_type = '' ORDER BY scope, tenant_id`,
    )
    expect(counters.map((c) => [c.scope, c.tenant_id, Number(c.n)])).toEqual([
      ['api_key', key.key.id, 2],
      ['global', '', 7],
      ['tenant', 'acme', 5],
      ['tenant', 'globex', 2],
    ])
    const windows = await db.rawQuery<{ scope: string; tenant_id: string }>('SELECT scope, tenant_id FROM llm_rate_limits ORDER BY scope, tenant_id')
    expect(windows.map((w) => [w.scope, w.tenant_id])).toEqual([['tenant', 'globex']])
    // The global limit refuses across tenants: 7 of 10 used, three more fit, then none.
    await store.update('globex', { rateLimits: { requestsPerMinute: null } })
    for (let i = 0; i < 3; i++) await budgets.track('globex', call, usage)
    await expect(budgets.track('globex', call, usage)).rejects.toMatchObject({ scope: 'global', limitType: 'dailyExecutions' })
    await expect(budgets.track('acme', call, usage)).rejects.toBeInstanceOf(BudgetExceededError)
    // Cross-tenant work on the service role sees every tenant.
    const top = await createLedger(service).costByTenant({ period: 'today' })
    expect(top.map((t) => t.tenantId).sort()).toEqual(['acme', 'globex'])
    expect(await budgets.refreshCounters()).toBeDefined()
    expect(await budgets.releaseExpiredHolds()).toBe(0)
    expect((await budgets.status('acme')).limits.dailyExecutions).toMatchObject({ used: 5, limit: 5 })
  })

  it("the app role sees its tenant's own counters, windows and key rows — no global ones, none of the other tenant's", async () => {
    const { app, db } = rls()
    const [own] = await db.rawQuery<{ n: string }>("SELECT COUNT(*)::text AS n FROM llm_executions WHERE tenant_id = 'acme'")
    const acme = await withTenantDb(app, 'acme', async (tx) => ({
      counters: (await tx.llmBudgetCounter.findMany({ where: { period: 'day', agentType: '' } })).map((c) => c.scope).sort(),
      executions: await tx.llmExecution.count(),
      tenants: (await tx.llmTenant.findMany()).map((t) => t.tenantId),
      keys: await tx.llmApiKey.count(),
    }))
    expect(acme).toEqual({ counters: ['api_key', 'tenant'], executions: Number(own.n), tenants: ['acme'], keys: 1 })
    const globex = await withTenantDb(app, 'globex', async (tx) => ({
      counters: (await tx.llmBudgetCounter.findMany({ where: { period: 'day', agentType: '' } })).map((c) => [c.scope, c.tenantId]),
      windows: (await tx.llmRateLimit.findMany()).map((w) => w.tenantId),
    }))
    expect(globex).toEqual({ counters: [['tenant', 'globex']], windows: ['globex'] })
  })

  it('admission on the app role (no bypass) fails closed: the call is refused, never admitted uncounted', async () => {
    const { app, db } = rls()
    const [before] = await db.rawQuery<{ n: string }>('SELECT COUNT(*)::text AS n FROM llm_executions')
    let ran = false
    const budgets = new LlmBudgets(app, { budgets: { globalDailyExecutions: 1000 } })
    await expect(
      budgets.track('acme', call, async (c) => {
        ran = true
        await usage(c)
      }),
    ).rejects.toThrow()
    expect(ran).toBe(false)
    const [after] = await db.rawQuery<{ n: string }>('SELECT COUNT(*)::text AS n FROM llm_executions')
    expect(after.n).toBe(before.n)
  })
})

describe.skipIf(!POSTGRES_URL)('the HTTP API with row-level security on (service role)', () => {
  const rls = useRlsDatabase()

  it('the HTTP API works with row-level security on: runs, usage and executions of the key’s tenant only', async () => {
    const { db, service } = rls()
    const api = await startApi({ ...db, client: service })
    try {
      const run = await httpCall(api, '/v1/agents/support/run', { key: api.acme.secret, method: 'POST', body: JSON.stringify({ input: 'hello' }) })
      expect(run.status).toBe(200)
      expect(await run.json()).toMatchObject({ text: 'Echo: hello' })
      await httpCall(api, '/v1/agents/support/run', { key: api.globex.secret, method: 'POST', body: JSON.stringify({ input: 'hi' }) })
      const usage = await httpCall(api, '/v1/usage?period=today', { key: api.acme.secret })
      expect(usage.status).toBe(200)
      const u = (await usage.json()) as { tenantId: string; executions: number }
      expect(u.tenantId).toBe('acme')
      expect(u.executions).toBeGreaterThanOrEqual(1)
      const list = await httpCall(api, '/v1/executions?limit=100', { key: api.acme.secret })
      expect(list.status).toBe(200)
      const body = (await list.json()) as { data?: Array<{ tenantId?: string }>; executions?: Array<{ tenantId?: string }> }
      const rows = body.data ?? body.executions ?? []
      expect(rows.length).toBeGreaterThan(0)
      const ids = await db.rawQuery<{ id: string; tenant_id: string }>('SELECT id, tenant_id FROM llm_executions')
      const tenantOf = new Map(ids.map((r) => [r.id, r.tenant_id]))
      expect(new Set((rows as Array<{ id: string }>).map((r) => tenantOf.get(r.id)))).toEqual(new Set(['acme']))
      const keys = await httpCall(api, '/v1/api-keys', { key: api.acme.secret })
      expect(keys.status).toBe(200)
      expect(JSON.stringify(await keys.json())).not.toContain(api.globex.keyId)
    } finally {
      await api.close()
    }
  })
})
