import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { BudgetExceededError, LlmBudgets, TenantStore, createLedger, Decimal } from '../../src/index.ts'

describe.each(DATABASES)('hard limits under concurrency on %s', (kind) => {
  const db = useDatabase(kind)

  it('200 concurrent calls against a limit that admits 50: exactly 50 spent, 150 refused, counters == ledger', async () => {
    const budgets = new LlmBudgets(db().client, { budgets: { enforcement: 'hard' } })
    await new TenantStore(db().client).upsert({ tenantId: 'race', limits: { dailyCost: '5.00' }, enforcement: 'hard' })
    let providerCalls = 0
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        budgets.track('race', { agentType: 'Racer', model: 'm', estimate: { cost: '0.10', tokens: 10 } }, async (call) => {
          providerCalls++
          await new Promise((r) => setTimeout(r, i % 7))
          call.reportUsage({ inputTokens: 6, outputTokens: 4, inputCost: '0.04', outputCost: '0.06' })
          return i
        }),
      ),
    )
    const admitted = results.filter((r) => r.status === 'fulfilled')
    const refused = results.filter((r) => r.status === 'rejected')
    expect(admitted).toHaveLength(50)
    expect(providerCalls).toBe(50)
    expect(refused).toHaveLength(150)
    for (const r of refused) {
      const err = (r as PromiseRejectedResult).reason
      if (!(err instanceof BudgetExceededError)) console.log(String(err), err.cause)
      expect(err).toBeInstanceOf(BudgetExceededError)
      expect(err).toMatchObject({ scope: 'tenant', limitType: 'dailyCost', limit: new Decimal(5), tenantId: 'race', agentType: 'Racer' })
      expect(err.message).toContain('$5')
    }
    const ledger = createLedger(db().client)
    expect((await ledger.cost({ tenantId: 'race', period: 'today' })).toFixed()).toBe('5')
    expect(await ledger.executionCount({ tenantId: 'race', period: 'today' })).toBe(50)
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }, 120_000)
})
