/**
 * Regression test for "a call admitted just before local midnight is counted in the next day (and
 * month)": `track` took `startedAt` before admission, then read the clock again after the tenant
 * load and the tenantConfigResolver to pick the counter buckets. One instant per call now decides
 * both its ledger row and its buckets.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { LlmBudgets, TenantStore, createLedger, defineLlmConfig } from '../../src/index.ts'

describe.each(DATABASES)('one instant per call on %s', (kind) => {
  const db = useDatabase(kind)

  it('a call started at 23:59:59.9 in Tokyo, with a resolver that takes 300 ms, is counted on 31 January, not 1 February', async () => {
    let now = new Date('2026-01-31T14:59:59.900Z') // 23:59:59.900 on 31 January, Asia/Tokyo (UTC+9)
    const config = defineLlmConfig({
      timeZone: 'Asia/Tokyo',
      now: () => new Date(now.getTime()),
      // A resolver that takes 300 ms (the clock moves past local midnight while it runs).
      tenantConfigResolver: async () => {
        now = new Date(now.getTime() + 300)
        return null
      },
      refusalBackoffMs: 0,
    })
    await new TenantStore(db().client).upsert({ tenantId: 'tokyo', limits: { dailyExecutions: 1 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, config)
    await b.track('tokyo', { agentType: 'A', model: 'm' }, async (c) => c.reportUsage({ inputCost: '0.01' }))

    const [row] = await createLedger(db().client, config).recentExecutions({ tenantId: 'tokyo', limit: 1 })
    expect(row.startedAt.toISOString()).toBe('2026-01-31T14:59:59.900Z')
    const counters = await db().rawQuery<{ period: string; bucket: string; spent_executions: unknown }>(
      `SELECT period, bucket, spent_executions FROM llm_budget_counters WHERE tenant_id = 'tokyo' AND scope = 'tenant' AND period <> 'inflight' ORDER BY period, bucket`,
    )
    expect(counters.map((c) => [c.period, c.bucket, Number(c.spent_executions)])).toEqual([
      ['day', '2026-01-31', 1],
      ['month', '2026-01', 1],
    ])

    // The next morning's first call is not refused by a dailyExecutions: 1 it never used.
    now = new Date('2026-02-01T00:00:00.000Z') // 09:00 on 1 February in Tokyo
    expect(await b.track('tokyo', { agentType: 'A', model: 'm' }, async () => 'morning')).toBe('morning')
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })
})
