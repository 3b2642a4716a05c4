/**
 * Regression tests for "refusals count as executions in some paths and not in others" and
 * "admitted calls whose error is named like a refusal lose their spend": a refusal is a fact
 * recorded at refusal time (status `refused`), on the track path and the agent path alike, and every
 * query, counter and refresh classifies rows by that status — never by an error class name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { BudgetExceededError, LlmBudgets, TenantInactiveError, TenantStore, createLedger, createLlmRuntime } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const call = { agentType: 'Writer', model: 'gpt-4o-mini' }

describe.each(DATABASES)('refusals are rows of their own status on %s', (kind) => {
  const database = useDatabase(kind)

  it('a tenant with 3 real calls shows 3 executions however often it was refused, on every query', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'three', limits: { dailyExecutions: 3 }, enforcement: 'hard' })
    const rt = createLlmRuntime(database().client, {
      providers: { openai: { baseURL: emulator.openaiBaseURL } },
      tenantApiKeys: async () => ({ openai: 'sk-three-0001' }),
      config: { refusalBackoffMs: 0 },
    })
    const agent = rt.defineAgent({ name: 'Helper', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    await agent.run('one', { tenant: 'three' })
    await rt.budgets.track('three', call, async (c) => c.reportUsage({ inputTokens: 10, inputCost: '0.01' }))
    await agent.run('two', { tenant: 'three' })
    // 51 refusals: agents and track alike.
    for (let i = 0; i < 25; i++) await expect(agent.run(`again ${i}`, { tenant: 'three' })).rejects.toBeInstanceOf(BudgetExceededError)
    for (let i = 0; i < 26; i++) await expect(rt.budgets.track('three', call, async () => 1)).rejects.toBeInstanceOf(BudgetExceededError)
    await new TenantStore(database().client).update('three', { active: false })
    await expect(rt.budgets.track('three', call, async () => 1)).rejects.toBeInstanceOf(TenantInactiveError)

    const ledger = createLedger(database().client)
    const scope = { tenantId: 'three', period: 'today' as const }
    expect((await ledger.usageSummary(scope)).executions).toBe(3)
    expect(await ledger.executionCount(scope)).toBe(3)
    expect(Object.values(await ledger.usageByAgent(scope)).reduce((n, f) => n + f.count, 0)).toBe(3)
    expect(Object.values(await ledger.usageByModel(scope)).reduce((n, f) => n + f.count, 0)).toBe(3)
    expect(Object.values(await ledger.usageByDay(scope)).reduce((n, f) => n + f.count, 0)).toBe(3)
    expect(await ledger.recentExecutions({ tenantId: 'three', limit: 100 })).toHaveLength(3)
    expect(await ledger.failedExecutions({ tenantId: 'three', limit: 100 })).toEqual([])
    expect((await ledger.costByTenant({ period: 'today' })).find((t) => t.tenantId === 'three')?.executions).toBe(3)
    expect((await rt.budgets.status('three')).limits.dailyExecutions.used).toBe(3)
    // Asked for, they are there: one row per refusal, zero usage, its error class, on both paths.
    const refused = await ledger.refusedExecutions({ tenantId: 'three', limit: 100 })
    expect(refused).toHaveLength(52)
    expect(refused.every((r) => r.status === 'refused' && r.totalCost.isZero() && r.totalTokens === 0)).toBe(true)
    expect(refused.filter((r) => r.agentType === 'Helper' && r.errorClass === 'BudgetExceededError')).toHaveLength(25)
    expect(refused.filter((r) => r.agentType === 'Writer' && r.errorClass === 'BudgetExceededError')).toHaveLength(26)
    expect(refused.filter((r) => r.errorClass === 'TenantInactiveError')).toHaveLength(1)
    expect((await ledger.usageSummary({ ...scope, includeRefused: true })).executions).toBe(55)
    expect(await ledger.executionCount({ ...scope, includeRefused: true })).toBe(55)
    expect((await ledger.costByTenant({ period: 'today', includeRefused: true })).find((t) => t.tenantId === 'three')?.executions).toBe(55)
    expect(await ledger.recentExecutions({ tenantId: 'three', limit: 100, includeRefused: true })).toHaveLength(55)
    expect(await rt.budgets.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('an admitted call that throws a nested BudgetExceededError keeps its spend (refresh included)', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'nested', limits: { dailyCost: '1.00' }, enforcement: 'hard' })
    const b = new LlmBudgets(database().client, { refusalBackoffMs: 0 })
    const inner = await b.track({ id: 'nested-inner', limits: { dailyCost: 0 }, enforcement: 'hard' }, call, async () => 1).catch((e: unknown) => e)
    expect(inner).toBeInstanceOf(BudgetExceededError)
    // The outer call was admitted, reported $0.30, and then failed with the nested call's refusal.
    await expect(
      b.track('nested', { ...call, estimate: { cost: '0.30' } }, async (c) => {
        c.reportUsage({ inputCost: '0.30' })
        throw inner
      }),
    ).rejects.toBe(inner)
    const [row] = await createLedger(database().client).failedExecutions({ tenantId: 'nested' })
    expect(row).toMatchObject({ status: 'error', errorClass: 'BudgetExceededError' })
    expect(row.totalCost.toFixed()).toBe('0.3')
    // Recomputing the counters from the ledger keeps the $0.30 (it is an execution, not a refusal)…
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
    // …so a $1.00 call does not fit under the $1.00 hard cap ($1.30 would be spent).
    await expect(
      new LlmBudgets(database().client).track('nested', { ...call, estimate: { cost: '1.00' } }, async (c) => c.reportUsage({ inputCost: '1.00' })),
    ).rejects.toBeInstanceOf(BudgetExceededError)
    // A counter row created later (a new limit's scope) starts from the ledger with the same rule.
    await new TenantStore(database().client).update('nested', { agentLimits: { Writer: { dailyCost: '0.5' } } })
    await expect(new LlmBudgets(database().client).track('nested', { ...call, estimate: { cost: '0.25' } }, async () => 1)).rejects.toMatchObject({
      scope: 'agent',
    })
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('rows recorded directly with status refused consume nothing; an error row named like a refusal counts', async () => {
    const ledger = createLedger(database().client)
    await ledger.recordExecutions([
      { tenantId: 'direct', agentType: 'A', model: 'm', status: 'refused', errorClass: 'BudgetExceededError' },
      { tenantId: 'direct', agentType: 'A', model: 'm', status: 'error', errorClass: 'BudgetExceededError', inputCost: '0.5' },
      { tenantId: 'direct', agentType: 'A', model: 'm', status: 'error', errorClass: 'TenantInactiveError', inputCost: '0.25' },
    ])
    expect(await ledger.usageSummary({ tenantId: 'direct', period: 'today' })).toMatchObject({ executions: 2 })
    expect((await ledger.cost({ tenantId: 'direct', period: 'today' })).toFixed()).toBe('0.75')
    const status = await new LlmBudgets(database().client).status('direct')
    expect(status.limits.dailyExecutions.used).toBe(2)
    expect(status.limits.dailyCost.used.toString()).toBe('0.75')
    expect(await new LlmBudgets(database().client).refreshCounters({ tenantId: 'direct' })).toMatchObject({ changed: 0 })
  })
})
