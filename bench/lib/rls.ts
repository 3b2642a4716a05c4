/**
 * Scenario 10: row-level security (PostgreSQL). Per-call p50 with the shipped policies on ÷ off,
 * rounds alternating in one run (the owner toggles ENABLE / FORCE ROW LEVEL SECURITY between
 * rounds, so drift hits both), on three paths:
 *
 * - admission: `budgets.track` as the library's service role (a plain role the policies let through);
 * - a tenant read: `withTenantDb(app, tenant, tx => tx.llmExecution.findMany({ where: { tenantId }, take: 20 }))`
 *   as the app's plain role — the same filter either way, so the figure is the policies' own cost
 *   (and the transaction withTenantDb opens);
 * - a session turn: `getItems()` then `addItems([q, a])` on the app role.
 *
 * Goal: admission ≤ 1.05 (the service policy folds to `true`); tenant paths ≤ 1.10.
 */
import { BudgetExceededError, LlmBudgets, TenantStore } from '../../src/index.ts'
import { rlsTables, withTenantDb } from '../../src/db/rls.ts'
import { createSessionStore } from '../../src/sessions/index.ts'
import type { DbKind } from '../../test/support/databases.ts'
import { openRlsDatabase } from '../../test/support/rls.ts'
import { call, usage, type Mode } from '../scenarios.ts'
import { percentile, timeCalls, type Figure } from './stats.ts'

const SCENARIO = '11 row-level security'
const TENANTS = 8
const tenant = (i: number) => `tenant-${i % TENANTS}`

export async function rlsScenario(kind: DbKind, mode: Mode): Promise<Figure[]> {
  if (kind !== 'postgresql') return [] // SQLite has no row-level security
  const rls = await openRlsDatabase({ max: 10 })
  const runs = new Map<string, number[]>()
  const add = (k: string, v: number) => runs.set(k, [...(runs.get(k) ?? []), v])
  const setRls = async (on: boolean) => {
    for (const table of rlsTables()) {
      await rls.db.rawQuery(`ALTER TABLE "${table}" ${on ? 'ENABLE' : 'DISABLE'} ROW LEVEL SECURITY`)
      await rls.db.rawQuery(`ALTER TABLE "${table}" ${on ? 'FORCE' : 'NO FORCE'} ROW LEVEL SECURITY`)
    }
  }
  try {
    const store = new TenantStore(rls.service)
    for (let t = 0; t < TENANTS; t++) await store.upsert({ tenantId: tenant(t) })
    const budgets = new LlmBudgets(rls.service, { budgets: { globalMonthly: 1_000_000, enforcement: 'hard' } })
    const sessions = createSessionStore(rls.app)
    const admission = (i: number) => budgets.track(tenant(i), call, usage)
    const read = (i: number) =>
      withTenantDb(rls.app, tenant(i), (tx) => tx.llmExecution.findMany({ where: { tenantId: tenant(i) }, orderBy: { startedAt: 'desc' }, take: 20 }))
    const turn = async (i: number) => {
      const s = sessions.session(tenant(i), `conv-${i % 32}`)
      await s.getItems(20)
      await s.addItems([
        { role: 'user', content: `question ${i}` },
        { role: 'assistant', content: `answer ${i}` },
      ])
    }
    // A ledger to read and sessions to append to; warm both states (JIT, prepared statements, plans).
    for (let i = 0; i < 400; i++) await admission(i).catch((e) => (e instanceof BudgetExceededError ? undefined : Promise.reject(e)))
    await rls.db.rawQuery('ANALYZE')
    for (const on of [false, true]) {
      await setRls(on)
      for (let i = 0; i < 60; i++) await Promise.all([admission(i), read(i), turn(i)])
    }
    // Many short rounds, each measuring both states back to back (in alternating order): a stall of
    // the machine lands in one round's pair, not in one state's whole figure.
    const calls = Math.min(mode.calls, 300)
    for (let r = 0; r < Math.max(mode.repeats, 3) * 3; r++) {
      for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
        await setRls(on)
        const state = on ? 'on' : 'off'
        add(`admission ${state}`, percentile(await timeCalls(calls, admission), 50) * 1000)
        add(`read ${state}`, percentile(await timeCalls(calls, read), 50) * 1000)
        add(`turn ${state}`, percentile(await timeCalls(Math.ceil(calls / 2), turn), 50) * 1000)
      }
    }
    await setRls(true)
  } finally {
    await rls.close()
  }
  const ratio = (path: string) => runs.get(`${path} on`)!.map((v, i) => v / runs.get(`${path} off`)![i])
  const figure = (metric: string, unit: string, values: number[]): Figure => ({ scenario: SCENARIO, db: kind, metric, unit, runs: values })
  return [
    figure('admission per-call p50, RLS on (service role)', 'µs', runs.get('admission on')!),
    figure('admission per-call p50 RLS on ÷ off', '×', ratio('admission')),
    figure('tenant read (withTenantDb, 20 rows) p50, RLS on (app role)', 'µs', runs.get('read on')!),
    figure('tenant read p50 RLS on ÷ off', '×', ratio('read')),
    figure('session turn (getItems + addItems) p50, RLS on (app role)', 'µs', runs.get('turn on')!),
    figure('session turn p50 RLS on ÷ off', '×', ratio('turn')),
  ]
}
