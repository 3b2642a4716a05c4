/**
 * A used-up budget is refused without a database round trip (SpentCache), and the cache can only
 * refuse: a raised limit, a local refreshCounters and the TTL after another process's correction all
 * let calls through again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, openDatabase, type TestDatabase } from '../support/databases.ts'
import { countingClient as counting } from '../support/fault-clients.ts'
import { BudgetExceededError, LlmBudgets, TenantStore, createLedger, Decimal } from '../../src/index.ts'

const call = { agentType: 'Loop', model: 'm', estimate: { cost: '0.4' } }
const spend = async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputCost: '0.4' })

describe.each(DATABASES)('refusing a spent budget on %s', (kind) => {
  let db: TestDatabase
  // Every statement must go through the Prisma client to be counted: no sqliteFastPath here.
  beforeAll(async () => {
    db = await openDatabase(kind, { fastPath: false })
  })
  afterAll(() => db.close())

  it('once spent, refusals send no admission statement; each writes its refusal row, the counters are untouched', async () => {
    await new TenantStore(db.client).upsert({ tenantId: 'loop', limits: { dailyCost: '1' }, enforcement: 'hard' })
    const { proxy, sent } = counting(db.client)
    // No refusal backoff here: its delays would outlast the caches' 1 s TTL (this test is about the cache).
    const budgets = new LlmBudgets(proxy, { refusalBackoffMs: 0 })
    await budgets.track('loop', call, spend)
    await budgets.track('loop', call, spend) // $0.80 spent: $0.40 more does not fit
    await expect(budgets.track('loop', call, spend)).rejects.toBeInstanceOf(BudgetExceededError)
    const before = sent.n
    for (let i = 0; i < 20; i++) {
      await expect(budgets.track('loop', call, spend)).rejects.toMatchObject({
        limitType: 'dailyCost',
        scope: 'tenant',
        tenantId: 'loop',
        current: new Decimal('0.8'),
        limit: new Decimal(1),
      })
    }
    expect(sent.n - before).toBe(0)
    expect(await createLedger(db.client).refusedExecutions({ tenantId: 'loop', limit: 100 })).toHaveLength(21)
    // A smaller call still fits, and the database decides it (the cache never admits).
    await budgets.track('loop', { ...call, estimate: { cost: '0.2' } }, async (c) => c.reportUsage({ inputCost: '0.2' }))
    expect(sent.n - before).toBeGreaterThan(0)
    expect((await createLedger(db.client).usageSummary({ tenantId: 'loop', period: 'today' })).executions).toBe(3)
    expect((await budgets.refreshCounters()).changed).toBe(0)
  })

  it('a raised limit admits at once; a local refreshCounters clears what was seen', async () => {
    const store = new TenantStore(db.client)
    await store.upsert({ tenantId: 'raise', limits: { dailyCost: '0.4' }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db.client, { tenantCacheTtlMs: 0 })
    const cached = new LlmBudgets(db.client, { tenantCacheTtlMs: 60_000 })
    await cached.track('raise', call, spend)
    await expect(cached.track('raise', call, spend)).rejects.toBeInstanceOf(BudgetExceededError)
    await store.upsert({ tenantId: 'raise', limits: { dailyCost: '0.8' }, enforcement: 'hard' })
    // The tenant row is cached for a minute in `cached`; a fresh instance sees the raised limit.
    await budgets.track('raise', call, spend)
    // The ledger loses a row (an operator deletes a test call) and a refresh corrects the counters down.
    await db.rawQuery(`DELETE FROM llm_executions WHERE id IN (SELECT id FROM llm_executions WHERE tenant_id = 'raise' LIMIT 1)`)
    expect((await budgets.refreshCounters({ tenantId: 'raise' })).changed).toBeGreaterThan(0)
    await budgets.track('raise', call, spend)
    expect((await createLedger(db.client).cost({ tenantId: 'raise', period: 'today' })).toFixed()).toBe('0.8')
  })

  it('another process’s downward correction is seen after the TTL, not before', async () => {
    let now = Date.now()
    const clock = { now: () => new Date(now) }
    await new TenantStore(db.client).upsert({ tenantId: 'ttl', limits: { dailyCost: '0.4' }, enforcement: 'hard' })
    const here = new LlmBudgets(db.client, { tenantCacheTtlMs: 5_000, ...clock })
    const elsewhere = new LlmBudgets(db.client, clock)
    await here.track('ttl', call, spend)
    await expect(here.track('ttl', call, spend)).rejects.toBeInstanceOf(BudgetExceededError)
    await db.rawQuery(`DELETE FROM llm_executions WHERE tenant_id = 'ttl'`)
    expect((await elsewhere.refreshCounters({ tenantId: 'ttl' })).changed).toBeGreaterThan(0)
    await expect(here.track('ttl', call, spend)).rejects.toBeInstanceOf(BudgetExceededError) // still within 5 s
    now += 5_001
    await here.track('ttl', call, spend)
    expect((await createLedger(db.client, clock).cost({ tenantId: 'ttl', period: 'today' })).toFixed()).toBe('0.4')
  })
})
