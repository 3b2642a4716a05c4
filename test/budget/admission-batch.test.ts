/**
 * Batched admission on PostgreSQL (src/budget/perf/admission-batch.ts): concurrent admissions decided in
 * one statement. Every hard limit holds exactly (a batch never admits what one-at-a-time admission
 * would refuse, and what it does not admit is decided again alone), refusals name a limit that is
 * really used up, rows are those of the single path, and a failing batch falls back to singles.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { pgClientFailingOnce } from '../support/fault-clients.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { q, tenantFigures } from '../support/fault-kit.ts'
import { BudgetExceededError, LlmBudgets, TenantStore, createLedger, Decimal } from '../../src/index.ts'
import { admissionBatcherFor } from '../../src/budget/perf/admission-batch.ts'

/** n calls fired at once; each reports `cost`. Returns the admitted calls' ids and the refusals. */
async function burst(budgets: LlmBudgets, n: number, callOf: (i: number) => { tenant: string; agentType: string; cost: string }) {
  const admitted: string[] = []
  const refused: BudgetExceededError[] = []
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const c = callOf(i)
      await budgets
        .track(c.tenant, { agentType: c.agentType, model: 'm', estimate: { cost: c.cost, tokens: 10 } }, async (ctx) => {
          admitted.push(ctx.executionId)
          ctx.reportUsage({ inputCost: c.cost, inputTokens: 10 })
        })
        .catch((e: unknown) => {
          if (!(e instanceof BudgetExceededError)) throw e
          refused.push(e)
        })
    }),
  )
  return { admitted, refused }
}

describe.runIf(DATABASES.includes('postgresql'))('batched admission on postgresql', () => {
  const db = useDatabase('postgresql')
  const stats = () => admissionBatcherFor(db().client as never, async () => ({ ok: false })).stats

  it('one tenant, 120 calls at once, a limit that admits exactly 45: 45 admitted in batches, 75 refused naming it, counters == ledger', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'ab-one', limits: { dailyCost: '4.5' }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    await budgets.track('ab-one', { agentType: 'W', model: 'm' }, async () => undefined) // counter rows exist
    const before = { ...stats() }
    const { admitted, refused } = await burst(budgets, 120, () => ({ tenant: 'ab-one', agentType: 'W', cost: '0.1' }))
    expect(stats().batched - before.batched).toBeGreaterThan(0) // admissions did share statements
    expect(admitted).toHaveLength(45)
    expect(refused).toHaveLength(75)
    for (const e of refused) expect(e).toMatchObject({ scope: 'tenant', limitType: 'dailyCost', limit: new Decimal('4.5'), tenantId: 'ab-one' })
    expect((await createLedger(db().client).cost({ tenantId: 'ab-one', period: 'today' })).toFixed()).toBe('4.5')
    const f = await tenantFigures(db(), 'ab-one')
    expect({ reserved: f.reservedAnywhere, spent: f.spentCost, n: f.spentExecutions }).toEqual({ reserved: 0n, spent: 4_500_000_000n, n: 46n })
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)

  it('first calls of new tenants in one burst (no counter rows yet): rows created, every call decided right', async () => {
    const store = new TenantStore(db().client)
    for (let t = 0; t < 8; t++) await store.upsert({ tenantId: `ab-new${t}`, limits: { dailyExecutions: 3 }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    const { admitted, refused } = await burst(budgets, 64, (i) => ({ tenant: `ab-new${i % 8}`, agentType: 'N', cost: '0.01' }))
    expect(admitted).toHaveLength(24)
    expect(refused).toHaveLength(40)
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)

  it('rows written by a batch are the rows the single path writes', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'ab-rows', limits: { dailyCost: '100' }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db().client)
    await budgets.track('ab-rows', { agentType: 'R', model: 'm' }, async () => undefined)
    const before = { ...stats() }
    // Held open so the ledger rows and holds are seen as admission wrote them.
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const ids: string[] = []
    const calls = Array.from({ length: 24 }, (_, i) =>
      budgets.track(
        'ab-rows',
        {
          agentType: 'R',
          model: `m${i % 2}`,
          provider: 'openai',
          traceId: `t${i}`,
          parentId: i % 3 ? null : 'p',
          metadata: { i, s: 'x\u00e9' },
          estimate: { cost: '0.123456789', tokens: 77 },
        },
        async (c) => {
          ids[i] = c.executionId
          await gate
        },
      ),
    )
    while (ids.filter(Boolean).length < 24) await new Promise((r) => setTimeout(r, 5))
    expect(stats().batched - before.batched).toBeGreaterThan(0)
    const rows = await q<Record<string, unknown>>(
      db(),
      `SELECT e."tenant_id", e."agent_type", e."provider", e."model", e."status", e."input_tokens", e."total_cost_nanos", e."trace_id", e."parent_id",
              e."metadata", e."started_at", e."completed_at", h."counters", h."cost_nanos", h."tokens", h."state", h."expires_at" - e."started_at" AS ttl
       FROM "llm_executions" e JOIN "llm_budget_holds" h ON h."id" = e."id" WHERE e."id" = ANY($1) ORDER BY e."trace_id"`,
      [ids],
    )
    expect(rows).toHaveLength(24)
    for (const r of rows) {
      const i = Number(String(r.trace_id).slice(1))
      expect({ ...r, started_at: undefined }).toEqual({
        tenant_id: 'ab-rows',
        agent_type: 'R',
        provider: 'openai',
        model: `m${i % 2}`,
        status: 'running',
        input_tokens: 0,
        total_cost_nanos: '0',
        trace_id: `t${i}`,
        parent_id: i % 3 ? null : 'p',
        metadata: { i, s: 'x\u00e9' },
        completed_at: null,
        counters: rows[0].counters,
        cost_nanos: '123456789',
        tokens: '77',
        state: 'open',
        ttl: rows[0].ttl,
        started_at: undefined,
      })
      expect(Math.abs((r.started_at as Date).getTime() - Date.now())).toBeLessThan(60_000) // UTC, as the single path writes it
    }
    release()
    await Promise.all(calls)
    const f = await tenantFigures(db(), 'ab-rows')
    expect({ reserved: f.reservedAnywhere, spent: f.spentCost }).toEqual({ reserved: 0n, spent: f.ledgerCost })
  })

  it('a batch statement that fails is retried one admission at a time', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'ab-fail', limits: { dailyExecutions: 30 }, enforcement: 'hard' })
    const { client, failures } = pgClientFailingOnce(
      db().location,
      (sql) => sql.includes('INSERT INTO "llm_executions"') && sql.includes('jsonb_to_recordset'),
      new Error('could not serialize access'),
    )
    onTestFinished(() => client.$disconnect())
    const budgets = new LlmBudgets(client, { refusalBackoffMs: 0 })
    await budgets.track('ab-fail', { agentType: 'F', model: 'm' }, async () => undefined)
    const { admitted, refused } = await burst(budgets, 40, () => ({ tenant: 'ab-fail', agentType: 'F', cost: '0.01' }))
    expect(failures()).toBe(1)
    expect(admissionBatcherFor(client as never, async () => ({ ok: false })).stats.fallbacks).toBe(1)
    expect(admitted).toHaveLength(29)
    expect(refused).toHaveLength(11)
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  })
})

// Its own database: its global and per-agent counter rows would be counted by other tests' refreshes.
describe.runIf(DATABASES.includes('postgresql'))('batched admission with global and per-agent limits on postgresql', () => {
  const db = useDatabase('postgresql')

  it('20 tenants × 3 agents with tenant, per-agent and global limits at once: every limit exact', async () => {
    const store = new TenantStore(db().client)
    for (let t = 0; t < 20; t++) await store.upsert({ tenantId: `ab-m${t}`, limits: { dailyExecutions: 6 }, enforcement: 'hard' })
    // Per agent: 'Scarce' may spend $2.5 a day across all tenants (25 calls of $0.1); globally $9 (90 calls).
    const budgets = new LlmBudgets(db().client, {
      refusalBackoffMs: 0,
      budgets: { globalDaily: '9', perAgent: { Scarce: { dailyCost: '2.5' } }, enforcement: 'hard' },
    })
    const agents = ['Plenty', 'Scarce', 'Other']
    const { admitted, refused } = await burst(budgets, 240, (i) => ({ tenant: `ab-m${i % 20}`, agentType: agents[Math.floor(i / 20) % 3], cost: '0.1' }))
    const rows = await q<{ tenant_id: string; agent_type: string; n: string }>(
      db(),
      `SELECT "tenant_id", "agent_type", COUNT(*) AS n FROM "llm_executions" WHERE "status" = 'success' AND "tenant_id" LIKE 'ab-m%' GROUP BY 1, 2`,
    )
    const perTenant = new Map<string, number>()
    let scarce = 0
    for (const r of rows) {
      perTenant.set(r.tenant_id, (perTenant.get(r.tenant_id) ?? 0) + Number(r.n))
      if (r.agent_type === 'Scarce') scarce += Number(r.n)
    }
    for (const n of perTenant.values()) expect(n).toBeLessThanOrEqual(6)
    expect(scarce).toBeLessThanOrEqual(25)
    expect(admitted.length).toBeLessThanOrEqual(90)
    expect(admitted.length + refused.length).toBe(240)
    // Nothing refused that fitted: every refusal names a limit at its edge.
    for (const e of refused) {
      if (e.limitType === 'dailyExecutions' && e.scope === 'tenant') expect(Number(e.current)).toBe(6)
      else if (e.scope === 'agent') expect([e.agentType, e.limitType, Number(e.current) + 0.1 > 2.5]).toEqual(['Scarce', 'dailyCost', true])
      else expect([e.scope, e.limitType, Number(e.current) + 0.1 > 9]).toEqual(['global', 'dailyCost', true])
    }
    // The binding limits were reached exactly: 20 tenants × 6 = 120 > 90, so the global $9 binds.
    expect(admitted).toHaveLength(90)
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)
})
