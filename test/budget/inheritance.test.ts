/** Effective limits and enforcement: the one inheritance rule, on real rows. */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { LlmBudgets, TenantStore, LIMIT_TYPES, type LimitType, Decimal } from '../../src/index.ts'

const GLOBAL = {
  globalDaily: 10,
  globalMonthly: 100,
  globalDailyTokens: 1000,
  globalMonthlyTokens: 10000,
  globalDailyExecutions: 5,
  globalMonthlyExecutions: 50,
}
const GLOBAL_BY_TYPE: Record<LimitType, string> = {
  dailyCost: '10',
  monthlyCost: '100',
  dailyTokens: '1000',
  monthlyTokens: '10000',
  dailyExecutions: '5',
  monthlyExecutions: '50',
}

describe.each(DATABASES)('limit and enforcement inheritance on %s', (kind) => {
  const db = useDatabase(kind)
  const budgets = () => new LlmBudgets(db().client, { budgets: { ...GLOBAL, enforcement: 'soft' } })
  const store = () => new TenantStore(db().client)

  it('all six limits inherit the global value when inheritGlobal (default) and the tenant sets none', async () => {
    await store().upsert({ tenantId: 'inherits' })
    const status = await budgets().status('inherits')
    for (const type of LIMIT_TYPES) expect(status.limits[type].limit?.toString(), type).toBe(GLOBAL_BY_TYPE[type])
    expect(status.enforcement).toBe('soft')
  })

  it('without inheritGlobal every unset limit is "no limit" and enforcement is none', async () => {
    await store().upsert({ tenantId: 'alone', inheritGlobal: false, limits: { dailyTokens: 7 } })
    const status = await budgets().status('alone')
    for (const type of LIMIT_TYPES) expect(status.limits[type].limit?.toString() ?? null, type).toBe(type === 'dailyTokens' ? '7' : null)
    expect(status.enforcement).toBe('none')
  })

  it('the tenant’s own value wins, and 0 is a set limit (not "unset")', async () => {
    await store().upsert({ tenantId: 'zero', limits: { dailyCost: 0, monthlyExecutions: 3 }, enforcement: 'hard' })
    const status = await budgets().status('zero')
    expect(status.limits.dailyCost.limit?.toString()).toBe('0')
    expect(status.limits.monthlyExecutions.limit).toBe(3)
    expect(status.limits.monthlyCost.limit?.toString()).toBe('100')
    expect(status.enforcement).toBe('hard')
    await expect(budgets().track('zero', { agentType: 'A', model: 'm', estimate: { cost: '0.000000001' } }, async () => 1)).rejects.toMatchObject({
      limitType: 'dailyCost',
      limit: new Decimal(0),
    })
  })

  it('a tenant unknown to the database inherits everything; with no global config at all, nothing is enforced', async () => {
    expect((await budgets().status('never-seen')).limits.dailyExecutions.limit).toBe(5)
    const bare = new LlmBudgets(db().client, {})
    const status = await bare.status('never-seen')
    expect(status.enforcement).toBe('none')
    expect(status.limits.dailyCost.limit).toBeNull()
  })

  it('status figures: monthly 1000 − 800 = 200 remaining; 50 of 100 = 50%', async () => {
    await store().upsert({ tenantId: 'figures', limits: { monthlyCost: 1000, dailyExecutions: 100 }, enforcement: 'soft' })
    const b = budgets()
    for (let i = 0; i < 50; i++) {
      await b.track('figures', { agentType: 'A', model: 'm' }, async (call) => call.reportUsage({ inputCost: i < 8 ? '100' : '0' }))
    }
    const status = await b.status('figures')
    expect(status.limits.monthlyCost.used.toString()).toBe('800')
    expect(status.limits.monthlyCost.remaining?.toString()).toBe('200')
    expect(status.limits.monthlyCost.percentage).toBe(80)
    expect(status.limits.dailyExecutions.used).toBe(50)
    expect(status.limits.dailyExecutions.percentage).toBe(50)
    expect(await b.remainingBudget('figures', { type: 'monthlyCost' })).toEqual(status.limits.monthlyCost.remaining)
    expect(await b.withinBudget('figures', { type: 'monthlyCost' })).toBe(true)
    expect(await b.withinBudget('figures', { type: 'dailyCost' })).toBe(false) // global daily $10 inherited, $800 spent
    await expect(b.withinBudget('figures', { type: 'hourlyCost' as never })).rejects.toThrow(/type/)
  })

  it('a tenantConfigResolver overrides the database for the call; an explicit { id, limits } override wins over both', async () => {
    await store().upsert({ tenantId: 'resolved', limits: { dailyExecutions: 100 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, {
      budgets: { enforcement: 'hard' },
      tenantConfigResolver: async (id) => (id === 'resolved' ? { limits: { dailyExecutions: 1 } } : null),
    })
    await b.track('resolved', { agentType: 'A', model: 'm' }, async () => 1)
    await expect(b.track('resolved', { agentType: 'A', model: 'm' }, async () => 1)).rejects.toMatchObject({ limitType: 'dailyExecutions', limit: 1 })
    expect(await b.track({ id: 'resolved', limits: { dailyExecutions: 5 } }, { agentType: 'A', model: 'm' }, async () => 'override')).toBe('override')
  })
})
