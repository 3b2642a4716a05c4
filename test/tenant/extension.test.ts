import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import { BudgetExceededError, defineLlmConfig, llmTenant, TenantInactiveError, InvalidArgumentError } from '../../src/index.ts'

const ORG_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
}

const config = defineLlmConfig({ budgets: { globalDaily: 1000, enforcement: 'hard' } })

function extend(db: TestDatabase) {
  return db.client.$extends(
    llmTenant({
      model: 'organization',
      id: 'slug',
      name: 'displayName',
      budget: true,
      apiKeys: { openai: 'openaiApiKey', anthropic: (org: { slug: string }) => (org.slug === 'acme' ? 'sk-ant-acme' : '') },
      config,
    }),
  )
}

function extendWith(db: TestDatabase, options: Record<string, unknown>) {
  return db.client.$extends(llmTenant({ model: 'organization', id: 'slug', config, ...options } as never))
}

describe.each(DATABASES)('llmTenant() extension on %s', (kind) => {
  const db = useDatabase(kind)
  const prisma = () => extend(db())

  it('creating the host creates its LlmTenant row (inheriting enforcement); renaming syncs the name', async () => {
    await db().client.$executeRawUnsafe(ORG_DDL[kind])
    const org = await prisma().organization.create({ data: { slug: 'acme', displayName: 'Acme', openaiApiKey: 'sk-openai-acme' } })
    const row = await prisma().organization.llmFindTenant('acme')
    expect(row).toMatchObject({ tenantId: 'acme', name: 'Acme', enforcement: null, inheritGlobal: true, record: { type: 'Organization', id: org.id } })
    await prisma().organization.update({ where: { id: org.id }, data: { displayName: 'Acme Inc' } })
    expect((await prisma().organization.llmFindTenant('acme'))?.name).toBe('Acme Inc')
  })

  it('typed record methods: id, usage, keys, status', async () => {
    const org = await prisma().organization.findUniqueOrThrow({ where: { slug: 'acme' } })
    expect(org.llmTenantId).toBe('acme')
    expect(await org.llmApiKeys()).toEqual({ openai: 'sk-openai-acme', anthropic: 'sk-ant-acme' })
    await org.llmTrack({ agentType: 'Chat', model: 'gpt-4o', estimate: { cost: '0.5' } }, async (call) => {
      call.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: '0.2', outputCost: '0.1' })
    })
    const cost: string = (await org.llmCostToday()).toFixed()
    expect(cost).toBe('0.3')
    expect(await org.llmTokensThisMonth()).toBe(15)
    expect(await org.llmExecutionsToday()).toBe(1)
    const summary = await org.llmUsageSummary({ period: 'this_month' })
    expect(summary.executions).toBe(1)
    const status = await org.llmBudgetStatus()
    expect(status.enforcement).toBe('hard')
    expect(status.limits.dailyCost.limit?.toString()).toBe('1000')
    expect(await org.llmWithinBudget({ type: 'dailyCost' })).toBe(true)
  })

  it('host created before the extension gets its row on first use; concurrent first use makes one row', async () => {
    await db().client.organization.create({ data: { slug: 'legacy', displayName: 'Legacy' } })
    const org = await prisma().organization.findUniqueOrThrow({ where: { slug: 'legacy' } })
    const rows = await Promise.all(Array.from({ length: 20 }, () => org.llmTenant()))
    expect(new Set(rows.map((r) => r.id)).size).toBe(1)
    const [n] = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_tenants WHERE tenant_id = 'legacy'`)
    expect(Number(n.n)).toBe(1)
  })

  it('llmConfigure sets limits; llmCheckBudget and hard refusal before the provider', async () => {
    const org = await prisma().organization.findUniqueOrThrow({ where: { slug: 'legacy' } })
    await org.llmConfigure({ limits: { dailyExecutions: 1 }, enforcement: 'hard' })
    let called = 0
    await org.llmTrack({ agentType: 'Chat', model: 'm' }, async () => void called++)
    await expect(org.llmTrack({ agentType: 'Chat', model: 'm' }, async () => void called++)).rejects.toBeInstanceOf(BudgetExceededError)
    expect(called).toBe(1)
    await expect(org.llmCheckBudget()).rejects.toMatchObject({ limitType: 'dailyExecutions', scope: 'tenant' })
    expect(await org.llmRemainingBudget({ type: 'dailyExecutions' })).toBe(0)
  })

  it('deactivated tenants are refused with TenantInactiveError', async () => {
    await prisma().organization.llmDeactivate('acme')
    const org = await prisma().organization.findUniqueOrThrow({ where: { slug: 'acme' } })
    await expect(org.llmTrack({ agentType: 'Chat', model: 'm' }, async () => 1)).rejects.toBeInstanceOf(TenantInactiveError)
    await prisma().organization.llmActivate(org)
    expect(await org.llmTrack({ agentType: 'Chat', model: 'm' }, async () => 1)).toBe(1)
  })

  it('top spenders and refreshCounters as static helpers', async () => {
    const top = await prisma().organization.llmTopSpenders({ period: 'today', limit: 5 })
    expect(top[0].tenantId).toBe('acme')
    expect(await prisma().organization.llmRefreshCounters()).toMatchObject({ changed: 0 })
  })

  it('plans and rate limits through the extension: llmChangePlan, llmPlan, llmRateLimitStatus, llmPlans, llmTenantsOnPlan, $llm.plans', async () => {
    const org = await prisma().organization.create({ data: { slug: 'planful', displayName: 'Planful' } })
    await prisma().$llm.plans.definePlan({ key: 'ext-pro', name: 'Pro', rateLimits: { requestsPerHour: 30 }, enforcement: 'hard' })
    const assignment = await org.llmChangePlan('ext-pro')
    expect(assignment).toMatchObject({ tenantId: 'planful', planKey: 'ext-pro', planVersion: 1, effectiveTo: null })
    expect(await org.llmPlan()).toMatchObject({ plan: { key: 'ext-pro', name: 'Pro' }, scheduled: null })
    expect((await org.llmPlanHistory()).map((a) => a.planKey)).toEqual(['ext-pro'])
    await org.llmTrack({ agentType: 'Chat', model: 'm' }, async () => 1)
    expect(await org.llmRateLimitStatus()).toEqual([expect.objectContaining({ name: 'requestsPerHour', limit: 30, remaining: 29, source: 'plan' })])
    expect((await prisma().organization.llmPlans()).map((p) => p.key)).toContain('ext-pro')
    expect(await prisma().organization.llmTenantsOnPlan('ext-pro')).toEqual(['planful'])
    expect((await org.llmBudgetStatus()).plan).toMatchObject({ key: 'ext-pro', version: 1 })
  })

  it('rejects options naming fields the model lacks', () => {
    expect(() => extendWith(db(), { id: 'nope' })).toThrow(InvalidArgumentError)
    expect(() => extendWith(db(), { name: 'title' })).toThrow(/name/)
    expect(() => extendWith(db(), { apiKeys: { openai: 'missingField' } })).toThrow(/apiKeys\.openai/)
    expect(() => extendWith(db(), { model: 'team' })).toThrow(/model/)
    expect(() => extendWith(db(), { limits: { dailyCost: -1 } })).toThrow(/limits\.dailyCost/)
  })
})
