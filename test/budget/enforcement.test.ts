/** Enforcement modes, scopes together, isolation, ambient tenants and per-agent / in-flight limits. */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  AdmissionError,
  BudgetExceededError,
  InvalidArgumentError,
  LlmBudgets,
  TenantStore,
  createLedger,
  withTenant,
  type BudgetEvent,
  Decimal,
} from '../../src/index.ts'

const call = { agentType: 'Writer', model: 'gpt-4o' }
const charge = (cost: string) => async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputCost: cost, inputTokens: 10 })

describe.each(DATABASES)('enforcement on %s', (kind) => {
  const db = useDatabase(kind)
  const store = () => new TenantStore(db().client)

  it('none: never blocks and still tracks', async () => {
    await store().upsert({ tenantId: 'free', limits: { dailyExecutions: 1 }, enforcement: 'none' })
    const b = new LlmBudgets(db().client)
    for (let i = 0; i < 3; i++) await b.track('free', call, charge('1'))
    expect(await createLedger(db().client).executionCount({ tenantId: 'free', period: 'today' })).toBe(3)
    expect((await b.status('free')).limits.dailyExecutions.used).toBe(3)
  })

  it('soft: never blocks; emits one event per limit per period (callback and emitter)', async () => {
    await store().upsert({ tenantId: 'soft', limits: { dailyCost: 2, dailyExecutions: 3 }, enforcement: 'soft' })
    const seen: BudgetEvent[] = []
    const emitted: BudgetEvent[] = []
    const b = new LlmBudgets(db().client, { onBudgetEvent: (e) => seen.push(e) })
    b.config.events.on('budget', (e: BudgetEvent) => emitted.push(e))
    for (let i = 0; i < 6; i++) await b.track('soft', call, charge('1'))
    // a second instance (another process) must not re-send it either
    const other = new LlmBudgets(db().client, { onBudgetEvent: (e) => seen.push(e) })
    await other.track('soft', call, charge('1'))
    const soft = seen.filter((e) => e.type === 'soft_limit_reached')
    expect(soft.map((e) => e.limitType).sort()).toEqual(['dailyCost', 'dailyExecutions'])
    expect(soft.find((e) => e.limitType === 'dailyCost')).toMatchObject({ scope: 'tenant', tenantId: 'soft', limit: '2', current: '2' })
    expect(emitted.filter((e) => e.type === 'soft_limit_reached')).toHaveLength(2)
    expect(await createLedger(db().client).executionCount({ tenantId: 'soft', period: 'today' })).toBe(7)
  })

  it('hard: refused before the provider with a BudgetExceededError naming the limit ($ only for cost)', async () => {
    await store().upsert({ tenantId: 'hard', limits: { dailyCost: '1.5', dailyTokens: 25 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client)
    let providerCalls = 0
    const tracked = (est: object) =>
      b.track('hard', { ...call, estimate: est }, async (c) => {
        providerCalls++
        c.reportUsage({ inputCost: '1', inputTokens: 10 })
      })
    await tracked({ cost: '1', tokens: 10 })
    const err = await tracked({ cost: '1', tokens: 10 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BudgetExceededError)
    expect(err).toMatchObject({
      scope: 'tenant',
      limitType: 'dailyCost',
      limit: new Decimal('1.5'),
      current: new Decimal(1),
      tenantId: 'hard',
      agentType: 'Writer',
    })
    expect((err as Error).message).toMatch(/dailyCost limit \$1\.5/)
    const tokens = await tracked({ cost: '0', tokens: 20 }).catch((e: unknown) => e)
    expect(tokens).toMatchObject({ limitType: 'dailyTokens', limit: 25, current: 10 })
    expect((tokens as Error).message).not.toContain('$')
    expect(providerCalls).toBe(1)
  })

  it('global and tenant limits apply together; calls without a tenant count against global', async () => {
    const b = new LlmBudgets(db().client, { budgets: { globalDailyExecutions: 1_000_000, globalMonthly: '0.000003', enforcement: 'hard' } })
    // Earlier calls in this database already spent more than $0.000003 this month.
    const before = await b.status('g1')
    expect(before.limits.monthlyCost.limit?.toString()).toBe('0.000003')
    await expect(b.track(null, call, charge('0'))).rejects.toMatchObject({ scope: 'global', limitType: 'monthlyCost' })
  })

  it('two tenants are isolated: one exhausted tenant does not block another', async () => {
    const b = new LlmBudgets(db().client)
    await store().upsert({ tenantId: 'iso-a', limits: { dailyExecutions: 1 }, enforcement: 'hard' })
    await store().upsert({ tenantId: 'iso-b', limits: { dailyExecutions: 2 }, enforcement: 'hard' })
    await b.track('iso-a', call, charge('0'))
    await expect(b.track('iso-a', call, charge('0'))).rejects.toBeInstanceOf(BudgetExceededError)
    await b.track('iso-b', call, charge('0'))
    await b.track('iso-b', call, charge('0'))
    expect((await b.status('iso-a')).limits.dailyExecutions.used).toBe(1)
    expect((await b.status('iso-b')).limits.dailyExecutions.used).toBe(2)
  })

  it('an explicit tenant beats withTenant, which beats the resolver; multiTenancy off ignores tenants', async () => {
    const b = new LlmBudgets(db().client, { tenantResolver: () => 'from-resolver' })
    const ids: Array<string | null> = []
    const spy = async (c: { tenantId: string | null }) => void ids.push(c.tenantId)
    await b.track(undefined, call, spy)
    await withTenant('from-ambient', () => b.track(undefined, call, spy))
    await withTenant('from-ambient', () => b.track('explicit', call, spy))
    await withTenant(null, () => b.track(undefined, call, spy))
    const off = new LlmBudgets(db().client, { multiTenancy: false, tenantResolver: () => 'ignored' })
    await off.track('explicit', call, spy)
    expect(ids).toEqual(['from-resolver', 'from-ambient', 'explicit', null, null])
  })

  it('a tenant given as a number, an array or an object without id is a typed error; nothing is written', async () => {
    const b = new LlmBudgets(db().client)
    const count = async () => Number((await db().rawQuery<{ n: number }>('SELECT COUNT(*) AS n FROM llm_executions'))[0].n)
    const before = await count()
    for (const bad of [42, ['a'], { name: 'x' }, { id: 7 }, '']) {
      const err = await b.track(bad as never, call, async () => 1).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).field).toMatch(/^tenant/)
    }
    expect(await count()).toBe(before)
  })

  it('per-agent cost limits are enforced at tenant and global level', async () => {
    await store().upsert({ tenantId: 'agents', agentLimits: { Writer: { dailyCost: '1' } }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, { budgets: { perAgent: { Translator: { dailyCost: '0.5' } }, enforcement: 'hard' } })
    await b.track('agents', { ...call, estimate: { cost: '1' } }, charge('1'))
    await expect(b.track('agents', { ...call, estimate: { cost: '0.1' } }, charge('0.1'))).rejects.toMatchObject({
      scope: 'agent',
      agentType: 'Writer',
      tenantId: 'agents',
    })
    await b.track('agents', { agentType: 'Reader', model: 'm', estimate: { cost: '0.1' } }, charge('0.1'))
    await b.track('agents', { agentType: 'Translator', model: 'm', estimate: { cost: '0.5' } }, charge('0.5'))
    await expect(b.track('agents-2', { agentType: 'Translator', model: 'm', estimate: { cost: '0.1' } }, charge('0.1'))).rejects.toMatchObject({
      scope: 'agent',
      agentType: 'Translator',
      limitType: 'dailyCost',
    })
  })

  it('maxConcurrent limits calls in flight, and frees the slot when a call ends (even by throwing)', async () => {
    await store().upsert({ tenantId: 'conc', maxConcurrent: 2, enforcement: 'hard' })
    const b = new LlmBudgets(db().client)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const running = [b.track('conc', call, () => gate), b.track('conc', call, () => gate)]
    await new Promise((r) => setTimeout(r, 100))
    await expect(b.track('conc', call, async () => 1)).rejects.toMatchObject({ limitType: 'maxConcurrent', limit: 2 })
    release()
    await Promise.all(running)
    await expect(
      b.track('conc', call, async () => {
        throw new Error('provider down')
      }),
    ).rejects.toThrow('provider down')
    expect(await b.track('conc', call, async () => 'ok')).toBe('ok')
    expect((await b.status('conc')).limits.maxConcurrent.used).toBe(0)
  })

  it('maxReservation caps one call’s reservation so it cannot pin the whole budget', async () => {
    await store().upsert({ tenantId: 'capped', limits: { dailyCost: 5 }, enforcement: 'hard' })
    const uncapped = new LlmBudgets(db().client)
    await expect(uncapped.track('capped', { ...call, estimate: { cost: '100' } }, charge('0.5'))).rejects.toMatchObject({ limitType: 'dailyCost' })
    const capped = new LlmBudgets(db().client, { budgets: { enforcement: 'hard', maxReservation: { cost: '1' } } })
    await capped.track('capped', { ...call, estimate: { cost: '100' } }, charge('0.5'))
    expect((await capped.status('capped')).limits.dailyCost.used.toString()).toBe('0.5')
    expect(() => new LlmBudgets(db().client, { budgets: { maxReservation: { cost: -1 } } })).toThrow(/maxReservation\.cost/)
  })

  it('a limit configured later starts from the ledger: its new counter row counts the earlier calls', async () => {
    const before = new LlmBudgets(db().client) // no per-agent limit: no agent rows are maintained
    for (let i = 0; i < 3; i++) await before.track(`late-${i}`, { agentType: 'Late', model: 'm' }, charge('1'))
    const after = new LlmBudgets(db().client, { budgets: { perAgent: { Late: { dailyCost: '3.5' } }, enforcement: 'hard' } })
    await expect(after.track('late-x', { agentType: 'Late', model: 'm', estimate: { cost: '1' } }, charge('1'))).rejects.toMatchObject({
      scope: 'agent',
      agentType: 'Late',
      limitType: 'dailyCost',
      current: new Decimal(3),
    })
    await after.track('late-x', { agentType: 'Late', model: 'm', estimate: { cost: '0.5' } }, charge('0.5'))
    const [row] = await db().rawQuery<{ spent_cost_nanos: number | string; spent_executions: number | string }>(
      `SELECT spent_cost_nanos, spent_executions FROM llm_budget_counters WHERE scope = 'global_agent' AND agent_type = 'Late' AND period = 'day'`,
    )
    expect([String(row.spent_cost_nanos), String(row.spent_executions)]).toEqual(['3500000000', '4'])
    // (Other rows of this shared database were maintained under other configs; refreshCounters would
    // correct those — which is why every process of an app must share one config.)
  })

  it('regression: counter rows created by a refused admission survive its rollback', async () => {
    await store().upsert({ tenantId: 'reg-rows', limits: { dailyExecutions: 0 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client)
    await expect(b.track('reg-rows', { agentType: 'NewAgent', model: 'm' }, async () => 1)).rejects.toBeInstanceOf(BudgetExceededError)
    const rows = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_budget_counters WHERE tenant_id = 'reg-rows'`)
    expect(Number(rows[0].n)).toBe(3) // day, month and in-flight rows of the tenant
  })

  it('fail closed: a resolver that throws refuses with AdmissionError; fail open lets the call run', async () => {
    const boom = () => {
      throw new Error('tenant service down')
    }
    const closed = new LlmBudgets(db().client, { tenantResolver: boom })
    await expect(closed.track(undefined, call, async () => 1)).rejects.toBeInstanceOf(AdmissionError)
    const open = new LlmBudgets(db().client, { tenantResolver: boom, failMode: 'open' })
    expect(await open.track(undefined, call, async () => 'ran')).toBe('ran')
  })
})
