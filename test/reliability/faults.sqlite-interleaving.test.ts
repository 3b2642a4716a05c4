/**
 * SQLite: another statement on the same connection between the statements of the library's batch
 * transactions. @prisma/adapter-better-sqlite3 has ONE connection per client and serialises only
 * transactions (a mutex in startTransaction); standalone statements — a concurrent call's
 * ensureCounterRows INSERT … ON CONFLICT DO NOTHING, readCounters, claimAlert, the app's own writes
 * on its Prisma client — run whenever their turn comes, also between a batch's statements (seen in
 * the query log of concurrent first calls; the SIGKILL churn test lost the first call's row this
 * way before it warmed the counters). The batches used to gate their later statements on SQL's
 * `changes()`, which is per connection, so such a statement in between silently skipped them; they
 * now decide in JS from the RETURNING rows (src/ledger/counters/statements.ts runBatch). Here the
 * interleaving is made deterministic at the adapter (test/support/fault-clients.ts
 * interleavingSqliteClient): exactly one standalone zero-row UPDATE (what such a statement leaves in
 * changes()) runs on the connection right before the gated statement.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { useDatabase } from '../support/databases.ts'
import { FaultTally, auditIds, holdState, ledgerRowsOf, tenantFigures } from '../support/fault-kit.ts'
import { interleavingSqliteClient } from '../support/fault-clients.ts'
import { LlmBudgets, TenantStore } from '../../src/index.ts'

describe('statement interleaving inside the batch transactions on sqlite', () => {
  const db = useDatabase('sqlite')
  const tally = new FaultTally()
  let conn: ReturnType<typeof interleavingSqliteClient> | undefined
  afterAll(async () => {
    console.log(`[sqlite] ${tally.line('interleaving')}`)
    await conn?.client.$disconnect()
  })

  async function setup(tenant: string): Promise<{ b: LlmBudgets; warm: string }> {
    conn ??= interleavingSqliteClient(db().location)
    await new TenantStore(conn.client).upsert({ tenantId: tenant, limits: { dailyCost: '10' }, enforcement: 'hard' })
    const b = new LlmBudgets(conn.client)
    const warm = await b.track(tenant, { agentType: 'Warm', model: 'm' }, async (c) => c.executionId) // counter rows exist: the fast path
    return { b, warm }
  }

  it('control: without an interleaved statement both batches record the call once', async () => {
    const { b } = await setup('il-control')
    const id = await b.track(
      'il-control',
      { agentType: 'A', model: 'm', estimate: { cost: '0.5' } },
      async (c) => (c.reportUsage({ inputCost: '0.25' }), c.executionId),
    )
    expect((await ledgerRowsOf(db(), 'id', id)).map((r) => [r.status, r.totalCostNanos])).toEqual([['success', 250_000_000n]])
    expect((await tenantFigures(db(), 'il-control')).reservedAnywhere).toBe(0n)
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  // Regression (found by this suite): the ledger INSERT ran `WHERE changes() = n` and the hold INSERT only if that row
  // existed, but success was decided from the counter UPDATE alone. A statement in between made changes() 0: the counters
  // were reserved, no ledger row and no hold were written, track() ran fn anyway, settle found no row, so the call was LOST
  // from the ledger and the counters kept a phantom reservation that no hold would ever release.
  it('admission: a statement between the counter UPDATE and the ledger INSERT does not lose the row or leave a phantom reservation', async () => {
    const { b, warm } = await setup('il-admit')
    const hook = conn!.interleaveBefore(/^INSERT INTO "llm_executions"/)
    let ran = false
    const id = await b.track('il-admit', { agentType: 'A', model: 'm', estimate: { cost: '0.5', tokens: 10 } }, async (c) => {
      ran = true
      c.reportUsage({ inputCost: '0.25' })
      return c.executionId
    })
    expect(hook.fired()).toBe(1)
    tally.inject('statement interleaved in the reserve batch')
    const audit = await auditIds(db(), [warm, id], 'il-admit')
    tally.record(audit, 1)
    expect(ran).toBe(true)
    expect(audit.lost).toEqual([]) // the defect: no ledger row for a call that ran
    expect((await tenantFigures(db(), 'il-admit')).reservedAnywhere).toBe(0n) // the defect: reserved $0.5 / 10 tokens / 1 execution stuck
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  // Regression (found by this suite): the hold DELETE and the counter move were gated on `changes() = 1`, success on the
  // ledger UPDATE alone. A statement in between: the ledger said success with the cost, but the hold stayed 'open' and the
  // counters stayed reserved; when the hold expired, expireHolds released the reservation and counted the execution, but
  // the call's COST never reached the counters (spent < ledger), so the hard limit let the tenant OVERSPEND ($12 of $10).
  it('settle: a statement between the ledger UPDATE and the hold DELETE still counts the cost (no overspend)', async () => {
    const { warm } = await setup('il-settle') // limit $10
    const b = new LlmBudgets(conn!.client, { holdTtlMs: 300 })
    let hook: { fired: () => number } | undefined
    const id = await b.track('il-settle', { agentType: 'A', model: 'm', estimate: { cost: '2', tokens: 10 } }, async (c) => {
      c.reportUsage({ inputCost: '2' })
      hook = conn!.interleaveBefore(/^DELETE FROM "llm_budget_holds" WHERE "id" = \?/)
      return c.executionId
    })
    expect(hook!.fired()).toBe(1)
    tally.inject('statement interleaved in the settle batch')
    expect((await ledgerRowsOf(db(), 'id', id)).map((r) => [r.status, r.totalCostNanos])).toEqual([['success', 2_000_000_000n]])
    const holdAfterSettle = await holdState(db(), id) // was 'open' with the defect
    await new Promise((r) => setTimeout(r, 400))
    await b.releaseExpiredHolds()
    // Fill the rest of the $10 budget with $1 calls until the hard limit refuses.
    const ids = [warm, id]
    for (let i = 0; i < 12; i++) {
      const ok = await b
        .track('il-settle', { agentType: 'A', model: 'm', estimate: { cost: '1' } }, async (c) => (c.reportUsage({ inputCost: '1' }), c.executionId))
        .catch(() => null)
      if (ok) ids.push(ok)
    }
    const audit = await auditIds(db(), ids, 'il-settle')
    tally.record(audit, ids.length)
    const f = await tenantFigures(db(), 'il-settle')
    if (f.ledgerCost > f.spentCost) tally.usageLost++
    console.log(
      `[sqlite] settle interleaving: hold after settle ${holdAfterSettle}; ledger $${Number(f.ledgerCost) / 1e9} vs counter $${Number(f.spentCost) / 1e9} (hard limit $10)`,
    )
    expect(holdAfterSettle).not.toBe('open') // the defect: the hold stayed open
    expect(f.ledgerCost).toBeLessThanOrEqual(10_000_000_000n) // the defect: $12 spent under a $10 hard limit
    expect(f.spentCost).toBe(f.ledgerCost)
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })
})
