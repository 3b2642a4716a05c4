/**
 * Rate windows hold across processes: four processes sharing one database and one tenant window
 * admit exactly the limit; on PostgreSQL the window runs on the database clock, so processes whose
 * own clocks are seconds apart still share one limit (their clocks would otherwise each open a
 * fresh window). Children: test/support/fault-worker.ts in `load` mode.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { startWorker, type Worker } from '../support/fault-procs.ts'
import { LlmBudgets, TenantStore, createLedger } from '../../src/index.ts'

const PROCS = 4
const CALLS = 60
const LIMIT = 150

interface WorkerResult {
  admitted: string[]
  refused: number
  errors: Record<string, number>
}

async function runProcesses(kind: string, location: string, tenant: string, skews: number[]): Promise<WorkerResult[]> {
  const workers: Worker[] = skews.map((skewMs, i) =>
    startWorker('load', kind, location, tenant, { calls: CALLS, inflight: 16, estimate: '0', cost: '0', skewMs, appName: `rl-${i}` }),
  )
  await Promise.all(workers.map((w) => w.waitFor('READY', 1, 90_000)))
  for (const w of workers) w.child.stdin!.write('GO\n')
  const lines = await Promise.all(workers.map((w) => w.waitFor('RESULT', 1, 150_000)))
  await Promise.all(workers.map((w) => w.exited))
  return lines.map(([line]) => JSON.parse(line.slice('RESULT '.length)) as WorkerResult)
}

describe.each(DATABASES)('rate windows across processes on %s', (kind) => {
  const db = useDatabase(kind)

  const cases: Array<[string, number[]]> = [['clocks in step', [0, 0, 0, 0]]]
  if (kind === 'postgresql') cases.push(['clocks seconds apart (the database clock decides)', [-4_000, -1_500, 1_500, 4_000]])

  it.each(cases)(
    `${PROCS} processes × ${CALLS} calls against ${LIMIT} requests per hour, %s: exactly ${LIMIT} admitted`,
    async (label, skews) => {
      const tenant = `rl-${skews.join('_')}`
      await new TenantStore(db().client).upsert({ tenantId: tenant, rateLimits: { requestsPerHour: LIMIT }, enforcement: 'hard' })
      const results = await runProcesses(kind, db().location, tenant, skews)
      const admitted = results.reduce((n, r) => n + r.admitted.length, 0)
      const refused = results.reduce((n, r) => n + r.refused, 0)
      const errors = results.flatMap((r) => Object.keys(r.errors))
      console.log(
        `[${kind}] ${label}: ${admitted} admitted, ${refused} refused across ${PROCS} processes (per process ${results.map((r) => r.admitted.length).join('/')})`,
      )
      expect(errors).toEqual([])
      expect([admitted, refused]).toEqual([LIMIT, PROCS * CALLS - LIMIT])
      expect(await createLedger(db().client).executionCount({ tenantId: tenant, period: 'today' })).toBe(LIMIT)
      const [window] = await new LlmBudgets(db().client).rateLimitStatus(tenant)
      expect(window).toMatchObject({ name: 'requestsPerHour', limit: LIMIT, remaining: 0 })
    },
    180_000,
  )
})
