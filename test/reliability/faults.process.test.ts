/**
 * Process faults on SQLite and PostgreSQL: a child process holding several reservations is
 * SIGKILLed mid-call, and a child under load is SIGKILLed at a random point (possibly mid-admission
 * or mid-settle). Its holds expire; releaseExpiredHolds() turns each orphan into one timeout; every
 * call the child was admitted for has exactly one final ledger row; counters == ledger
 * (refreshCounters() changes 0 rows). Child: test/support/fault-worker.ts.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { FaultTally, auditIds, ledgerRowsOf, openHolds, sleep, tenantFigures } from '../support/fault-kit.ts'
import { idsOf, startWorker } from '../support/fault-procs.ts'
import { BudgetExceededError, LlmBudgets, TenantStore } from '../../src/index.ts'

const HOLD_TTL = 2500

describe.each(DATABASES)('process faults on %s', (kind) => {
  const db = useDatabase(kind)
  const tally = new FaultTally()
  afterAll(() => console.log(`[${kind}] ${tally.line('process')}`))

  it('a SIGKILLed holder of several concurrent holds: they expire into timeouts, once; counters == ledger', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'px-hold', limits: { dailyCost: '1.0' }, enforcement: 'hard' })
    const worker = startWorker('hold', kind, db().location, 'px-hold', { holdTtlMs: HOLD_TTL, settled: 3, holds: 5, estimate: '0.10' })
    const admitted = idsOf(await worker.waitFor('ADMITTED', 5), 'ADMITTED')
    const lastAdmission = Date.now()
    const settled = idsOf(worker.lines, 'SETTLED')
    worker.child.kill('SIGKILL')
    expect((await worker.exited).signal).toBe('SIGKILL')
    tally.inject('sigkill holder (5 holds)')

    const b = new LlmBudgets(db().client)
    expect(await openHolds(db(), 'px-hold')).toBe(5)
    const held = await tenantFigures(db(), 'px-hold')
    expect([held.reservedCost, held.reservedExecutions, held.spentCost]).toEqual([500_000_000n, 5n, 300_000_000n])
    // $0.30 spent + $0.50 held: a $0.30 call does not fit under $1 while the dead holder's holds live.
    await expect(b.track('px-hold', { agentType: 'A', model: 'm', estimate: { cost: '0.30' } }, async () => 1)).rejects.toBeInstanceOf(BudgetExceededError)

    await sleep(Math.max(0, lastAdmission + HOLD_TTL + 300 - Date.now()))
    expect(await b.releaseExpiredHolds()).toBe(5)
    expect(await b.releaseExpiredHolds()).toBe(0) // once
    const rows = await ledgerRowsOf(db(), 'tenant_id', 'px-hold')
    expect(
      rows
        .filter((r) => r.status === 'success')
        .map((r) => r.id)
        .sort(),
    ).toEqual([...settled].sort())
    expect(
      rows
        .filter((r) => r.status === 'timeout' && r.errorClass === 'HoldExpiredError')
        .map((r) => r.id)
        .sort(),
    ).toEqual([...admitted].sort())
    const audit = await auditIds(db(), [...settled, ...admitted], 'px-hold')
    tally.record(audit, settled.length + admitted.length)
    expect(audit).toEqual({ lost: [], duplicated: [], extra: [] })

    const after = await tenantFigures(db(), 'px-hold')
    expect([after.reservedAnywhere, after.running]).toEqual([0n, 0])
    expect([after.spentCost, after.spentExecutions]).toEqual([after.ledgerCost, after.ledgerExecutions])
    expect(after.spentExecutions).toBe(8n)
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
    // The budget is free again: the same call fits now.
    expect(
      await b.track('px-hold', { agentType: 'A', model: 'm', estimate: { cost: '0.30' } }, async (c) => c.reportUsage({ inputCost: '0.30' })),
    ).toBeUndefined()
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)

  it.each([1, 2, 3])(
    'a child SIGKILLed at a random point under load (round %i): every admitted call recorded once, orphans expire once',
    async (round) => {
      const tenant = `px-churn-${round}`
      await new TenantStore(db().client).upsert({ tenantId: tenant, limits: { dailyCost: '1000' }, enforcement: 'hard' })
      // Create the tenant's counter rows first (a $0 call): concurrent FIRST calls of a cold SQLite process can hit a
      // separate defect (faults.sqlite-interleaving.test.ts), which this test is not about.
      const warm = await new LlmBudgets(db().client).track(tenant, { agentType: 'Warm', model: 'm' }, async (c) => c.executionId)
      const worker = startWorker('churn', kind, db().location, tenant, { holdTtlMs: HOLD_TTL, inflight: 8, estimate: '0.02', cost: '0.015' })
      await worker.waitFor('ADMITTED', 20 + round * 10)
      await sleep(Math.random() * 40)
      worker.child.kill('SIGKILL')
      const killedAt = Date.now()
      await worker.exited
      tally.inject('sigkill under load')
      const admitted = idsOf(worker.lines, 'ADMITTED')
      const done = new Set(idsOf(worker.lines, 'DONE'))
      expect(worker.lines.filter((l) => l.startsWith('ERROR'))).toEqual([])

      await sleep(Math.max(0, killedAt + HOLD_TTL + 300 - Date.now()))
      const b = new LlmBudgets(db().client)
      const orphans = await b.releaseExpiredHolds()
      expect(await b.releaseExpiredHolds()).toBe(0)
      expect(orphans).toBeGreaterThanOrEqual(0)
      expect(orphans).toBeLessThanOrEqual(8) // at most the calls in flight

      const rows = await ledgerRowsOf(db(), 'tenant_id', tenant)
      const byId = new Map(rows.map((r) => [r.id, r]))
      for (const id of done) expect(byId.get(id)?.status, id).toBe('success')
      for (const id of admitted) expect(['success', 'timeout'], id).toContain(byId.get(id)?.status)
      // Rows the child never announced (admitted, killed before its fn printed): only expired orphans.
      const unannounced = rows.filter((r) => !admitted.includes(r.id) && r.id !== warm)
      for (const r of unannounced) expect([r.status, r.errorClass]).toEqual(['timeout', 'HoldExpiredError'])
      expect(rows.filter((r) => r.errorClass === 'HoldExpiredError')).toHaveLength(orphans)
      const audit = await auditIds(db(), [warm, ...admitted, ...unannounced.map((r) => r.id)], tenant)
      tally.record(audit, rows.length)
      expect(audit).toEqual({ lost: [], duplicated: [], extra: [] })

      const f = await tenantFigures(db(), tenant)
      expect([f.reservedAnywhere, f.running]).toEqual([0n, 0])
      expect([f.spentCost, f.spentExecutions]).toEqual([f.ledgerCost, f.ledgerExecutions])
      expect(await openHolds(db())).toBe(0)
      expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
      console.log(
        `[${kind}] churn round ${round}: ${admitted.length} announced, ${done.size} done, ${rows.length} ledger rows, ${orphans} orphan holds expired`,
      )
    },
    60_000,
  )
})
