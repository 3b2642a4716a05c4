/**
 * maxConcurrent decided in process when this process's own calls fill it (in-flight.ts): refusals
 * with no statement, a burst that costs `limit` admissions, slots of other processes left to the
 * database, expired holds not counted — and the tenant-row load and counter-row creation a burst of
 * first calls shares.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { countingClient } from '../support/fault-clients.ts'
import { q, tenantFigures } from '../support/fault-kit.ts'
import { BudgetExceededError, LlmBudgets, TenantStore, createLedger } from '../../src/index.ts'

const call = { agentType: 'Par', model: 'm', estimate: { cost: '0.001' } }
const usage = (c: { reportUsage(u: object): void }) => c.reportUsage({ inputCost: '0.001' })

/** Calls that stay in flight until `release()`. */
function holder() {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  return { gate, release }
}

/** Runs `n` calls at once; each either returns 'ok' after `wait`, or is refused. */
function burst(budgets: LlmBudgets, tenant: string, n: number, wait: Promise<void>) {
  return Promise.all(
    Array.from({ length: n }, () =>
      budgets
        .track(tenant, call, async (c) => {
          await wait
          usage(c)
          return 'ok' as const
        })
        .catch((err: unknown) => {
          if (err instanceof BudgetExceededError) return err
          throw err
        }),
    ),
  )
}

describe.each(DATABASES)('maxConcurrent in process on %s', (kind) => {
  // Statements are counted at the Prisma client: no fast path, which would go past it.
  const database = useDatabase(kind, { fastPath: false })

  it('while its own calls fill the limit, a refusal sends no admission statement and writes only its refusal row', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'full', maxConcurrent: 3, enforcement: 'hard' })
    const { proxy, sent } = countingClient(database().client)
    const budgets = new LlmBudgets(proxy, { refusalBackoffMs: 0 })
    await budgets.track('full', call, async (c) => usage(c)) // tenant row cached, counter rows created
    const { gate, release } = holder()
    const held = burst(budgets, 'full', 3, gate)
    while ((await tenantFigures(database(), 'full')).reservedExecutions < 3n) await new Promise((r) => setTimeout(r, 5))
    const before = sent.n
    const ledgerBefore = await q(database(), `SELECT COUNT(*) AS n FROM llm_executions`)
    for (let i = 0; i < 20; i++) {
      await expect(budgets.track('full', call, async () => undefined)).rejects.toMatchObject({
        limitType: 'maxConcurrent',
        scope: 'tenant',
        tenantId: 'full',
        limit: 3,
        current: 3,
      })
    }
    expect(sent.n - before).toBe(0)
    const [after] = await q<{ n: unknown }>(database(), `SELECT COUNT(*) AS n FROM llm_executions`)
    expect(Number(after.n)).toBe(Number((ledgerBefore as Array<{ n: unknown }>)[0].n) + 20)
    expect(
      (await createLedger(database().client).refusedExecutions({ tenantId: 'full', limit: 100 })).map((r) => [r.errorClass, r.totalCost.toFixed()]),
    ).toEqual(Array(20).fill(['BudgetExceededError', '0']))
    release()
    expect(await held).toEqual(['ok', 'ok', 'ok'])
    // The slots are free again: the next call is admitted (by the database).
    await budgets.track('full', call, async (c) => usage(c))
    expect(sent.n - before).toBeGreaterThan(0)
    expect((await budgets.refreshCounters()).changed).toBe(0)
  })

  it('a burst of 64 first calls at a limit of 8: one tenant-row load, the counter rows created once, 56 refused without admissions of their own', async () => {
    const store = new TenantStore(database().client)
    for (const t of ['burst-one', 'burst-64']) await store.upsert({ tenantId: t, maxConcurrent: 8, enforcement: 'hard' })
    // What one first call of a new tenant costs, end to end.
    const one = countingClient(database().client)
    await new LlmBudgets(one.proxy, { refusalBackoffMs: 0 }).track('burst-one', call, async (c) => usage(c))
    const creations = (sent: { sql: string[] }) => sent.sql.filter((s) => s.includes('INSERT INTO "llm_budget_counters"')).length
    expect(creations(one.sent)).toBeGreaterThan(0)

    const { proxy, sent } = countingClient(database().client)
    const budgets = new LlmBudgets(proxy, { refusalBackoffMs: 0 })
    const { gate, release } = holder()
    const outcomes = burst(budgets, 'burst-64', 64, gate)
    // Every call is decided while the 8 admitted ones are still in flight.
    while ((await tenantFigures(database(), 'burst-64')).reservedExecutions < 8n) await new Promise((r) => setTimeout(r, 5))
    await new Promise((r) => setTimeout(r, 50))
    const whileHeld = sent.n
    release()
    const results = await outcomes
    const refused = results.filter((r): r is BudgetExceededError => r instanceof BudgetExceededError)
    expect(results.filter((r) => r === 'ok')).toHaveLength(8)
    expect(refused).toHaveLength(56)
    for (const e of refused) expect(e).toMatchObject({ limitType: 'maxConcurrent', limit: 8, current: 8 })
    expect(sent.tenantLoads).toBe(1)
    expect(creations(sent)).toBe(creations(one.sent))
    // 8 admissions (a first attempt each, a second for those that found the rows missing, the
    // shared creation) — not 64: each refusal by the database would add its attempt and a read.
    expect(whileHeld).toBeLessThanOrEqual(one.sent.n + 7 * 4)
    expect(whileHeld).toBeLessThan(56)
    const figures = await tenantFigures(database(), 'burst-64')
    expect(figures).toMatchObject({ spentExecutions: 8n, reservedExecutions: 0n })
    expect((await budgets.refreshCounters()).changed).toBe(0)
  })

  it('slots held by another process are left to the database, which refuses; freed slots are retaken', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'shared', maxConcurrent: 3, enforcement: 'hard' })
    // Two instances = two processes: each knows only its own calls in flight.
    const a = new LlmBudgets(database().client, { refusalBackoffMs: 0 })
    const b = new LlmBudgets(database().client, { refusalBackoffMs: 0 })
    const { gate, release } = holder()
    const heldByA = burst(a, 'shared', 2, gate)
    const heldByB = burst(b, 'shared', 1, gate)
    while ((await tenantFigures(database(), 'shared')).reservedExecutions < 3n) await new Promise((r) => setTimeout(r, 5))
    // Neither instance alone fills the limit: the database decides, and refuses with its own figure.
    for (const budgets of [a, b]) {
      await expect(budgets.track('shared', call, async () => undefined)).rejects.toMatchObject({ limitType: 'maxConcurrent', current: 3, limit: 3 })
    }
    release()
    expect([...(await heldByA), ...(await heldByB)]).toEqual(['ok', 'ok', 'ok'])
    await a.track('shared', call, async (c) => usage(c))
    await b.track('shared', call, async (c) => usage(c))
    expect((await tenantFigures(database(), 'shared')).spentExecutions).toBe(5n)
  })

  it('a call of its own past its hold expiry no longer counts: the database sweeps the hold and admits', async () => {
    let now = Date.now()
    const clock = { now: () => new Date(now) }
    await new TenantStore(database().client).upsert({ tenantId: 'expiring', maxConcurrent: 2, enforcement: 'hard' })
    const budgets = new LlmBudgets(database().client, { refusalBackoffMs: 0, holdTtlMs: 1_000, ...clock })
    const { gate, release } = holder()
    const held = burst(budgets, 'expiring', 2, gate)
    while ((await tenantFigures(database(), 'expiring')).reservedExecutions < 2n) await new Promise((r) => setTimeout(r, 5))
    await expect(budgets.track('expiring', call, async () => undefined)).rejects.toMatchObject({ limitType: 'maxConcurrent', current: 2 })
    now += 2_000 // both holds have expired (their callers are alive but past holdTtlMs)
    expect(await budgets.track('expiring', call, async (c) => (usage(c), 'late-admitted'))).toBe('late-admitted')
    release()
    // The two slow calls still settle once (a settle after expiry is accepted), nothing twice.
    expect(await held).toEqual(['ok', 'ok'])
    expect((await budgets.refreshCounters()).changed).toBe(0)
    const [row] = await q<{ n: string | number }>(database(), `SELECT COUNT(*) AS n FROM llm_executions WHERE tenant_id = 'expiring' AND status <> 'refused'`)
    expect(Number(row.n)).toBe(3)
    const [refused] = await q<{ n: string | number }>(
      database(),
      `SELECT COUNT(*) AS n FROM llm_executions WHERE tenant_id = 'expiring' AND status = 'refused'`,
    )
    expect(Number(refused.n)).toBe(1)
  })
})
