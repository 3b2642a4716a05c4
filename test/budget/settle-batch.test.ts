/**
 * Batched settle on PostgreSQL (src/budget/perf/settle-batch.ts): settles of concurrent calls share one
 * statement. Checked against the one-call-at-a-time path on the same database: identical ledger
 * rows, counters == ledger, exactly once (a row that is no longer running in the middle of a batch
 * goes the late path alone), the lock order shared with admission (no deadlock under a mixed load),
 * and a failing batch retried one settle at a time.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { pgClientFailingOnce } from '../support/fault-clients.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { holdState, ledgerRowsOf, q, sleep, tenantFigures } from '../support/fault-kit.ts'
import { LlmBudgets, TenantStore } from '../../src/index.ts'
import { settleBatcherFor } from '../../src/budget/perf/settle-batch.ts'

/** The settle columns of a ledger row, everything a settle writes. */
const SETTLED = `"status", "model", "input_tokens", "output_tokens", "cached_input_tokens", "total_tokens", "input_cost_nanos", "output_cost_nanos",
  "total_cost_nanos", "error_class", "error_message", CAST("metadata" AS TEXT) AS metadata, "duration_ms", "completed_at"`

describe.runIf(DATABASES.includes('postgresql'))('batched settle on postgresql', () => {
  const db = useDatabase('postgresql')
  const batcher = () => settleBatcherFor(db().client as never, async () => null)

  /** n calls whose fns all return at the same moment (so their settles queue behind each other). */
  async function simultaneous(
    budgets: LlmBudgets,
    tenant: string,
    n: number,
    opts: { fail?: (i: number) => boolean; before?: () => Promise<void>; budgetsFor?: (i: number) => LlmBudgets } = {},
  ) {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const ids: string[] = []
    let started = 0
    const calls = Array.from({ length: n }, (_, i) =>
      (opts.budgetsFor?.(i) ?? budgets)
        .track(tenant, { agentType: `A${i % 3}`, model: 'm', estimate: { cost: '0.5', tokens: 100 } }, async (c) => {
          ids[i] = c.executionId
          started++
          await gate
          c.reportUsage({ inputTokens: 10 + i, outputTokens: i, inputCost: `0.00${i + 1}`, outputCost: '0.000000001', metadata: { i, note: `call ${i}` } })
          if (opts.fail?.(i)) throw Object.assign(new Error(`provider said no to ${i}`), { name: 'RateLimitError' })
          return i
        })
        .catch((e: Error) => e),
    )
    while (started < n) await sleep(5)
    await opts.before?.()
    release()
    return { ids, results: await Promise.all(calls) }
  }

  it('40 simultaneous settles: coalesced into batches, rows identical to settling one at a time, counters == ledger', async () => {
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'sb-batched', limits: { dailyCost: '100' }, enforcement: 'hard' })
    await store.upsert({ tenantId: 'sb-single', limits: { dailyCost: '100' }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db().client)
    const before = { ...batcher().stats }
    const batched = await simultaneous(budgets, 'sb-batched', 40, { fail: (i) => i % 5 === 0 })
    const stats = batcher().stats
    expect(stats.batches - before.batches).toBeGreaterThan(0)
    expect(stats.batched - before.batched).toBeGreaterThanOrEqual(20) // most settles shared a statement
    expect(stats.fallbacks).toBe(before.fallbacks)
    // The same calls one after the other: every settle runs alone (the single-call statement).
    const single: string[] = []
    for (let i = 0; i < 40; i++) {
      const one = await simultaneousOne(budgets, 'sb-single', i)
      single.push(one)
    }
    expect(batcher().stats.batched).toBe(stats.batched)
    for (let i = 0; i < 40; i++) {
      const [a] = await q(db(), `SELECT ${SETTLED} FROM "llm_executions" WHERE "id" = $1`, [batched.ids[i]])
      const [b] = await q(db(), `SELECT ${SETTLED} FROM "llm_executions" WHERE "id" = $1`, [single[i]])
      expect({ ...a, duration_ms: 0, completed_at: 0 }, `call ${i}`).toEqual({ ...b, duration_ms: 0, completed_at: 0 })
      expect(a.completed_at).toBeInstanceOf(Date)
      expect(Math.abs((a.completed_at as Date).getTime() - Date.now())).toBeLessThan(60_000) // stored in UTC like the single path
      expect(await holdState(db(), batched.ids[i])).toBeNull()
    }
    for (const t of ['sb-batched', 'sb-single']) {
      const f = await tenantFigures(db(), t)
      expect({ reserved: f.reservedAnywhere, running: f.running, spent: f.spentCost, n: f.spentExecutions }).toEqual({
        reserved: 0n,
        running: 0,
        spent: f.ledgerCost,
        n: 40n,
      })
    }
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })

    async function simultaneousOne(b: LlmBudgets, tenant: string, i: number): Promise<string> {
      let id = ''
      await b
        .track(tenant, { agentType: `A${i % 3}`, model: 'm', estimate: { cost: '0.5', tokens: 100 } }, async (c) => {
          id = c.executionId
          c.reportUsage({ inputTokens: 10 + i, outputTokens: i, inputCost: `0.00${i + 1}`, outputCost: '0.000000001', metadata: { i, note: `call ${i}` } })
          if (i % 5 === 0) throw Object.assign(new Error(`provider said no to ${i}`), { name: 'RateLimitError' })
        })
        .catch(() => undefined)
      return id
    }
  }, 60_000)

  it('calls whose holds expired while their settles waited are settled late, once; their batch neighbours normally', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'sb-late', limits: { dailyCost: '100' }, enforcement: 'hard' })
    const shortHolds = new LlmBudgets(db().client, { holdTtlMs: 400 })
    const budgets = new LlmBudgets(db().client) // same client, same batcher
    const before = { ...batcher().stats }
    const { ids } = await simultaneous(budgets, 'sb-late', 24, {
      budgetsFor: (i) => (i % 2 === 0 ? shortHolds : budgets),
      before: async () => {
        await sleep(450)
        expect(await shortHolds.releaseExpiredHolds()).toBe(12) // the even calls are HoldExpiredError timeouts when their settles arrive
      },
    })
    expect(batcher().stats.batched - before.batched).toBeGreaterThan(0)
    const rows = await ledgerRowsOf(db(), 'tenant_id', 'sb-late')
    expect(rows.map((r) => r.status)).toEqual(Array(24).fill('success'))
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids))
    const f = await tenantFigures(db(), 'sb-late')
    expect({ reserved: f.reservedAnywhere, spent: f.spentCost, n: f.spentExecutions }).toEqual({ reserved: 0n, spent: f.ledgerCost, n: 24n })
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('a batch statement that fails is retried one settle at a time: every call recorded once', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'sb-fallback', limits: { dailyCost: '100' }, enforcement: 'hard' })
    // The database refuses the batched settle (not a batched admission) once, like a lost connection would.
    const { client, failures } = pgClientFailingOnce(
      db().location,
      (sql) => sql.includes('UPDATE "llm_executions" AS e'),
      new Error('connection terminated unexpectedly'),
    )
    onTestFinished(() => client.$disconnect())
    const budgets = new LlmBudgets(client)
    const fallbacks = settleBatcherFor(client as never, async () => null).stats.fallbacks
    const { ids, results } = await simultaneous(budgets, 'sb-fallback', 20)
    expect(failures()).toBe(1)
    expect(settleBatcherFor(client as never, async () => null).stats.fallbacks).toBe(fallbacks + 1)
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i))
    const rows = await ledgerRowsOf(db(), 'tenant_id', 'sb-fallback')
    expect(rows).toHaveLength(20)
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids))
    expect(rows.every((r) => r.status === 'success')).toBe(true)
    const f = await tenantFigures(db(), 'sb-fallback')
    expect({ reserved: f.reservedAnywhere, spent: f.spentCost, n: f.spentExecutions }).toEqual({ reserved: 0n, spent: f.ledgerCost, n: 20n })
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  })

  // Regression: a NUL character in a provider error message or in metadata made PostgreSQL reject every attempt to record the
  // call (text and jsonb cannot hold it): the outcome could never be settled. Both databases now store U+FFFD.
  it('a NUL in the error message or metadata is recorded (as U+FFFD), not a settle that fails forever', async () => {
    const budgets = new LlmBudgets(db().client)
    const events: unknown[] = []
    budgets.config.events.on('settle_failed', (e) => events.push(e))
    let id = ''
    await budgets
      .track('sb-nul', { agentType: 'A', model: 'm' }, async (c) => {
        id = c.executionId
        c.reportUsage({ inputCost: '0.01', metadata: { 'k\u0000': 'v\u0000w' } })
        throw new Error('upstream said \u0000 no')
      })
      .catch(() => undefined)
    expect(events).toEqual([])
    const [row] = await q<{ error_message: string; metadata: Record<string, string> }>(
      db(),
      `SELECT "error_message", "metadata" FROM "llm_executions" WHERE "id" = $1`,
      [id],
    )
    expect(row.error_message).toBe('upstream said \uFFFD no')
    expect(row.metadata['k\uFFFD']).toBe('v\uFFFDw')
  })

  it('settles batched alongside admissions of the same tenants: no deadlock, no overspend, counters == ledger', async () => {
    const store = new TenantStore(db().client)
    for (let t = 0; t < 5; t++) await store.upsert({ tenantId: `sb-mix-${t}`, limits: { dailyCost: '0.2' }, enforcement: 'hard' })
    // A global limit that never binds but makes every call lock the shared global row too. (Last in the file: the other
    // tests' budgets do not maintain global rows, and refreshCounters would count their calls into them.)
    const budgets = new LlmBudgets(db().client, { budgets: { globalDaily: 1000, enforcement: 'hard' } })
    let next = 0
    let admitted = 0
    await Promise.all(
      Array.from({ length: 48 }, async () => {
        while (next < 600) {
          const i = next++
          await budgets
            .track(`sb-mix-${i % 5}`, { agentType: `M${i % 2}`, model: 'm', estimate: { cost: '0.01' } }, async (c) => {
              admitted++
              c.reportUsage({ inputCost: '0.01' })
            })
            .catch((e: Error) => expect(e.name).toBe('BudgetExceededError'))
        }
      }),
    )
    expect(admitted).toBe(100) // 5 tenants × $0.2 at $0.01
    for (let t = 0; t < 5; t++) expect((await tenantFigures(db(), `sb-mix-${t}`)).ledgerCost).toBe(200_000_000n)
    expect(await budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)
})
