/**
 * Four processes share one database (one PostgreSQL schema / one SQLite file) and one hard limit.
 * Each child (test/support/fault-worker.ts, `load` mode) fires 100 calls with 16 in flight, all
 * released at once; the tenant's limits admit exactly 150 ($15 at $0.10 per call, and 151
 * executions counting the parent's $0 warm-up call). Across the processes exactly 150 must be
 * admitted, spent == limit, no overspend, no row lost or twice, refreshCounters() a no-op.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { FaultTally, auditIds, openHolds, tenantFigures } from '../support/fault-kit.ts'
import { startWorker, type Worker } from '../support/fault-procs.ts'
import { LlmBudgets, TenantStore } from '../../src/index.ts'

const PROCS = 4
const CALLS = 100
const INFLIGHT = 16
const LIMIT_CALLS = 150
const PRICE_NANOS = 100_000_000n // $0.10 reserved and spent per call

interface WorkerResult {
  pid: number
  admitted: string[]
  refused: number
  errors: Record<string, number>
  settleFailed: number
  ms: number
}

async function runProcesses(kind: string, location: string, tenant: string): Promise<WorkerResult[]> {
  const workers: Worker[] = Array.from({ length: PROCS }, (_, i) =>
    startWorker('load', kind, location, tenant, { calls: CALLS, inflight: INFLIGHT, estimate: '0.10', cost: '0.10', holdTtlMs: 60_000, appName: `mp-${i}` }),
  )
  await Promise.all(workers.map((w) => w.waitFor('READY', 1, 90_000)))
  for (const w of workers) w.child.stdin!.write('GO\n') // released together
  const lines = await Promise.all(workers.map((w) => w.waitFor('RESULT', 1, 150_000)))
  await Promise.all(workers.map((w) => w.exited))
  return lines.map(([line]) => JSON.parse(line.slice('RESULT '.length)) as WorkerResult)
}

describe.each(DATABASES)('four processes, one database, one hard limit on %s', (kind) => {
  const db = useDatabase(kind)

  it(`${PROCS} processes × ${CALLS} calls (${INFLIGHT} in flight each) against a limit of ${LIMIT_CALLS}: exactly ${LIMIT_CALLS} admitted, no overspend`, async () => {
    const tenant = 'mp'
    await new TenantStore(db().client).upsert({ tenantId: tenant, limits: { dailyCost: '15', dailyExecutions: LIMIT_CALLS + 1 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client)
    // Counter rows exist before the children start (concurrent first calls on SQLite: faults.sqlite-interleaving.test.ts).
    const warm = await b.track(tenant, { agentType: 'Warm', model: 'm' }, async (c) => c.executionId)

    const results = await runProcesses(kind, db().location, tenant)
    const admittedIds = results.flatMap((r) => r.admitted)
    const refused = results.reduce((n, r) => n + r.refused, 0)
    const errors: Record<string, number> = {}
    for (const r of results) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
    const errorCount = Object.values(errors).reduce((a, n) => a + n, 0)
    const settleFailed = results.reduce((n, r) => n + r.settleFailed, 0)

    const f = await tenantFigures(db(), tenant)
    const overspend = f.ledgerCost > 15n * 1_000_000_000n ? f.ledgerCost - 15n * 1_000_000_000n : 0n
    const audit = await auditIds(db(), [warm, ...admittedIds], tenant)
    const tally = new FaultTally()
    tally.inject(`${PROCS} processes contending`, PROCS)
    tally.record(audit, admittedIds.length + 1)
    console.log(
      `[${kind}] multi-process: ${PROCS} procs, ${PROCS * CALLS} calls, ${admittedIds.length} admitted (limit ${LIMIT_CALLS}), ` +
        `${refused} refused (BudgetExceededError), ${errorCount} other errors, ${settleFailed} settle_failed, overspend ${overspend} nanos; ` +
        `per process admitted ${results.map((r) => r.admitted.length).join('/')} in ${results.map((r) => r.ms).join('/')} ms`,
    )
    if (errorCount > 0) console.log(`[${kind}] multi-process errors: ${JSON.stringify(errors, null, 1)}`)
    console.log(`[${kind}] ${tally.line('multi-process')}`)

    // Never more than the limit, nothing lost or twice, counters == ledger.
    expect(overspend).toBe(0n)
    expect(admittedIds.length).toBeLessThanOrEqual(LIMIT_CALLS)
    expect(audit).toEqual({ lost: [], duplicated: [], extra: [] })
    expect(f.spentCost).toBe(f.ledgerCost)
    expect(f.spentExecutions).toBe(f.ledgerExecutions)
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
    // Exactly the limit: every refusal is a budget refusal, every admitted call settled.
    expect({ errors, settleFailed, refused }).toEqual({ errors: {}, settleFailed: 0, refused: PROCS * CALLS - LIMIT_CALLS })
    expect(admittedIds.length).toBe(LIMIT_CALLS)
    expect(f.ledgerCost).toBe(BigInt(LIMIT_CALLS) * PRICE_NANOS)
    expect(f.spentExecutions).toBe(BigInt(LIMIT_CALLS + 1))
    expect([f.reservedAnywhere, await openHolds(db(), tenant)]).toEqual([0n, 0])
  }, 240_000)

  it(`${PROCS} processes × ${CALLS} calls under a limit they never reach: all admitted and settled, no lock errors, counters == ledger`, async () => {
    const tenant = 'mp-wide'
    await new TenantStore(db().client).upsert({ tenantId: tenant, limits: { dailyCost: '1000' }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client)
    const warm = await b.track(tenant, { agentType: 'Warm', model: 'm' }, async (c) => c.executionId)
    const results = await runProcesses(kind, db().location, tenant)
    const admittedIds = results.flatMap((r) => r.admitted)
    const errors: Record<string, number> = {}
    for (const r of results) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
    const settleFailed = results.reduce((n, r) => n + r.settleFailed, 0)
    const audit = await auditIds(db(), [warm, ...admittedIds], tenant)
    console.log(
      `[${kind}] multi-process (no limit pressure): ${PROCS} procs, ${PROCS * CALLS} calls, ${admittedIds.length} admitted, ` +
        `${Object.values(errors).reduce((a, n) => a + n, 0)} errors, ${settleFailed} settle_failed, rows lost ${audit.lost.length}, duplicated ${audit.duplicated.length + audit.extra.length}; ` +
        `${results.map((r) => r.ms).join('/')} ms`,
    )
    if (Object.keys(errors).length > 0) console.log(`[${kind}] errors: ${JSON.stringify(errors, null, 1)}`)
    const f = await tenantFigures(db(), tenant)
    expect(audit).toEqual({ lost: [], duplicated: [], extra: [] })
    expect([f.spentCost, f.spentExecutions, f.reservedAnywhere]).toEqual([f.ledgerCost, f.ledgerExecutions, 0n])
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
    expect({ errors, settleFailed, admitted: admittedIds.length }).toEqual({ errors: {}, settleFailed: 0, admitted: PROCS * CALLS })
    expect(f.ledgerCost).toBe(BigInt(PROCS * CALLS) * PRICE_NANOS)
  }, 240_000)
})
