/**
 * Plans: immutable versions, assignments now and at period end, what a plan contributes to the
 * policy (and where each effective value came from), usage carried over a change, and a change
 * seen by another process within tenantCacheTtlMs.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  BudgetExceededError,
  LlmBudgets,
  PlanInUseError,
  PlanNotFoundError,
  RateLimitExceededError,
  TenantStore,
  createAuditLog,
  createPlans,
  defineLlmConfig,
} from '../../src/index.ts'

const root = new URL('../..', import.meta.url).pathname
const call = { agentType: 'Chat', model: 'gpt-4o-mini' }
const ok = async () => 'ok'

describe.each(DATABASES)('plans on %s', (kind) => {
  const db = useDatabase(kind)

  it('a version is immutable once a tenant has been on it: editing creates the next; tenants stay until moved', async () => {
    const plans = createPlans(db().client)
    const pro = await plans.definePlan({ key: 'pro', name: 'Pro', limits: { dailyExecutions: 100 }, prices: { baseFee: '49.00', overagePer1kTokens: '0.002' } })
    expect(pro).toMatchObject({ key: 'pro', version: 1, limits: { dailyExecutions: 100 } })
    expect(pro.prices.baseFee?.toFixed()).toBe('49')
    // Unused: edited in place.
    expect(await plans.updatePlan('pro', { name: 'Pro (2026)' })).toMatchObject({ version: 1, name: 'Pro (2026)' })
    await plans.changePlan('imm-a', 'pro')
    // In use: the edit is version 2; the tenant stays on 1, a new assignment takes 2.
    const v2 = await plans.updatePlan('pro', { limits: { dailyExecutions: 200 } })
    expect(v2).toMatchObject({ version: 2, name: 'Pro (2026)', limits: { dailyExecutions: 200 } })
    expect(v2.prices.baseFee?.toFixed()).toBe('49') // copied from version 1
    expect((await plans.getPlan('pro', { version: 1 })).limits.dailyExecutions).toBe(100)
    expect((await plans.currentPlan('imm-a'))?.plan.version).toBe(1)
    await plans.changePlan('imm-b', 'pro')
    expect((await plans.currentPlan('imm-b'))?.plan.version).toBe(2)
    expect(await plans.tenantsOnPlan('pro', { version: 1 })).toEqual(['imm-a'])
    expect(await plans.movePlanVersion('pro', { from: 1, to: 2 })).toBe(1)
    expect(await plans.tenantsOnPlan('pro', { version: 2 })).toEqual(['imm-a', 'imm-b'])
    expect((await plans.planHistory('imm-a')).map((a) => [a.planVersion, a.effectiveTo === null])).toEqual([
      [1, false],
      [2, true],
    ])
    expect((await plans.listPlans()).map((p) => [p.key, p.version])).toEqual([['pro', 2]])
    expect((await plans.listPlans({ allVersions: true })).map((p) => p.version)).toEqual([1, 2])
  })

  // Regression: movePlanVersion moved tenants with a scheduled change (not started yet) onto the
  // new version without an audit event for them; only tenants on the version now were audited.
  it('movePlanVersion audits each tenant whose scheduled change it moves', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({ key: 'mv', name: 'Move', limits: { dailyExecutions: 10 } })
    await plans.definePlan({ key: 'mv-start', name: 'Start' })
    await plans.changePlan('mv-now', 'mv')
    await plans.changePlan('mv-later', 'mv-start')
    const pending = await plans.changePlan('mv-later', 'mv', { at: 'period_end' })
    await plans.updatePlan('mv', { limits: { dailyExecutions: 20 } }) // in use: version 2
    expect(await plans.movePlanVersion('mv', { from: 1, to: 2 })).toBe(2)
    expect((await plans.currentPlan('mv-later'))?.scheduled).toMatchObject({ planVersion: 2 })
    const log = createAuditLog(db().client)
    const movedBy = async (tenantId: string) =>
      (await log.events({ tenantId, action: 'plan.changed', limit: 10 })).events.filter((e) => (e.metadata as { movePlanVersion?: boolean }).movePlanVersion)
    expect(await movedBy('mv-later')).toMatchObject([
      {
        before: { planKey: 'mv', planVersion: 1 },
        after: { planKey: 'mv', planVersion: 2, effectiveFrom: pending.effectiveFrom.toISOString() },
        metadata: { movePlanVersion: true, scheduled: true },
      },
    ])
    expect(await movedBy('mv-now')).toMatchObject([{ after: { planVersion: 2 }, metadata: { movePlanVersion: true } }])
  })

  // Regression (found in review): a tenant on version 1 with a change scheduled away from it was
  // moved onto an open-ended version 2 — the scheduled change still started, but version 2 stayed
  // "current" beside it: tenantsOnPlan listed the tenant and deletePlan refused for ever.
  it('movePlanVersion keeps a change scheduled away from the version: the new version ends when it starts', async () => {
    let now = new Date()
    const plans = createPlans(db().client, defineLlmConfig({ now: () => now }))
    await plans.definePlan({ key: 'away', name: 'Away' })
    await plans.definePlan({ key: 'away-next', name: 'Next' })
    await plans.changePlan('away-t', 'away')
    const next = await plans.changePlan('away-t', 'away-next', { at: 'period_end' })
    await plans.updatePlan('away', { name: 'Away 2' }) // in use: version 2
    expect(await plans.movePlanVersion('away', { from: 1, to: 2 })).toBe(1)
    const history = await plans.planHistory('away-t')
    const onTwo = history.find((a) => a.planKey === 'away' && a.planVersion === 2)
    expect(onTwo?.effectiveTo?.toISOString()).toBe(next.effectiveFrom.toISOString())
    expect(await plans.tenantsOnPlan('away', { version: 2 })).toEqual(['away-t']) // on it until then
    // Once the scheduled change has started, the tenant is on the next plan only, and the old plan can go.
    now = new Date(next.effectiveFrom.getTime() + 60_000)
    expect((await plans.currentPlan('away-t'))?.plan.key).toBe('away-next')
    expect(await plans.tenantsOnPlan('away')).toEqual([])
    expect(await plans.deletePlan('away')).toBe(2)
  })

  it('the plan feeds the policy: its limits and rate limits apply, with each value’s source', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({
      key: 'free',
      name: 'Free',
      limits: { dailyExecutions: 2, dailyCost: '1' },
      rateLimits: { requestsPerMinute: 5 },
      enforcement: 'hard',
    })
    await plans.changePlan('src-t', 'free')
    const b = new LlmBudgets(db().client, { budgets: { globalMonthly: 100, enforcement: 'hard' }, refusalBackoffMs: 0 })
    let status = await b.status('src-t')
    expect(status.plan).toMatchObject({ key: 'free', version: 1 })
    expect([status.limits.dailyExecutions.source, status.limits.dailyCost.source, status.limits.monthlyCost.source, status.limits.dailyTokens.source]).toEqual([
      'plan',
      'plan',
      'global',
      null,
    ])
    expect(status.enforcementSource).toBe('plan')
    await b.track('src-t', call, ok)
    await b.track('src-t', call, ok)
    await expect(b.track('src-t', call, ok)).rejects.toMatchObject({ limitType: 'dailyExecutions', scope: 'tenant' })
    // The tenant's own value wins over the plan's; an override and the resolver win over both.
    await new TenantStore(db().client).update('src-t', { limits: { dailyExecutions: 10 } })
    status = await new LlmBudgets(db().client).status('src-t')
    expect(status.limits.dailyExecutions).toMatchObject({ limit: 10, source: 'tenant' })
    expect((await new LlmBudgets(db().client).status({ id: 'src-t', limits: { dailyExecutions: 7 } })).limits.dailyExecutions.source).toBe('override')
    const resolved = new LlmBudgets(db().client, { tenantConfigResolver: () => ({ limits: { dailyExecutions: 8 } }) })
    expect((await resolved.status('src-t')).limits.dailyExecutions).toMatchObject({ limit: 8, source: 'resolver' })
    // The plan's rate window: 5 per minute, named with its source.
    const [window] = await b.rateLimitStatus('src-t')
    expect(window).toMatchObject({ name: 'requestsPerMinute', limit: 5, source: 'plan' })
  })

  it('a change now carries the period’s usage over; an upgraded rate window keeps what was used', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({ key: 'starter', name: 'Starter', limits: { dailyExecutions: 3 }, rateLimits: { requestsPerHour: 3 }, enforcement: 'hard' })
    await plans.definePlan({ key: 'scale', name: 'Scale', limits: { dailyExecutions: 6 }, rateLimits: { requestsPerHour: 6 }, enforcement: 'hard' })
    await plans.changePlan('carry', 'starter')
    const b = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    for (let i = 0; i < 3; i++) await b.track('carry', call, ok)
    await expect(b.track('carry', call, ok)).rejects.toBeInstanceOf(BudgetExceededError)
    await plans.changePlan('carry', 'scale')
    // The same process sees the change at once (no TTL to wait for); 3 of 6 are used.
    const status = await b.status('carry')
    expect(status.limits.dailyExecutions).toMatchObject({ limit: 6, used: 3, source: 'plan' })
    expect((await b.rateLimitStatus('carry'))[0]).toMatchObject({ limit: 6, remaining: 3 })
    for (let i = 0; i < 3; i++) await b.track('carry', call, ok)
    const refused = await b.track('carry', call, ok).catch((e: unknown) => e)
    expect(refused instanceof BudgetExceededError || refused instanceof RateLimitExceededError).toBe(true)
    expect(await b.refreshCounters({ tenantId: 'carry' })).toMatchObject({ changed: 0 })
  })

  it("a change at 'period_end' takes effect at the start of next month in the config's zone, with no reload", async () => {
    let now = new Date('2026-01-31T20:00:00.000Z') // 21:00 on 31 January in Berlin
    const config = defineLlmConfig({ timeZone: 'Europe/Berlin', now: () => now, tenantCacheTtlMs: 3_600_000, refusalBackoffMs: 0 })
    const plans = createPlans(db().client, config)
    await plans.definePlan({ key: 'small', name: 'Small', limits: { monthlyExecutions: 1 }, enforcement: 'hard' })
    await plans.definePlan({ key: 'large', name: 'Large', limits: { monthlyExecutions: 5 }, enforcement: 'hard' })
    await plans.changePlan('sched', 'small')
    const b = new LlmBudgets(db().client, config)
    await b.track('sched', call, ok)
    const scheduled = await plans.changePlan('sched', 'large', { at: 'period_end' })
    expect(scheduled.effectiveFrom.toISOString()).toBe('2026-01-31T23:00:00.000Z')
    expect(await plans.currentPlan('sched')).toMatchObject({ plan: { key: 'small' }, scheduled: { planKey: 'large' } })
    await expect(b.track('sched', call, ok)).rejects.toMatchObject({ limitType: 'monthlyExecutions', limit: 1 })
    now = new Date('2026-01-31T23:00:00.001Z') // 00:00:00.001 on 1 February in Berlin
    expect(await b.track('sched', call, ok)).toBe('ok')
    expect((await b.status('sched')).limits.monthlyExecutions).toMatchObject({ limit: 5, used: 1, source: 'plan' })
    expect((await plans.planHistory('sched')).map((a) => [a.planKey, a.effectiveTo?.toISOString() ?? null])).toEqual([
      ['small', '2026-01-31T23:00:00.000Z'],
      ['large', null],
    ])
  })

  it('another process sees a plan change within tenantCacheTtlMs', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({ key: 'seen-a', name: 'A', limits: { dailyExecutions: 1 } })
    await plans.definePlan({ key: 'seen-b', name: 'B', limits: { dailyExecutions: 2 } })
    await plans.changePlan('watched', 'seen-a')
    const TTL = 400
    // node itself (not the tsx wrapper), so that killing it leaves no process behind.
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/plan-watcher.ts'), kind, db().location, 'watched', String(TTL)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const lines: string[] = []
    const seen = (text: string) =>
      new Promise<number>((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => l.startsWith(`PLAN ${text} `))
          if (line) resolve(Number(line.split(' ').pop()))
        }
        child.stdout.on('data', (d: Buffer) => (lines.push(...d.toString().trim().split('\n')), check()))
        child.on('exit', (code) => reject(new Error(`watcher exited (${code})`)))
        check()
      })
    try {
      await seen('seen-a 1')
      const changedAt = Date.now()
      await plans.changePlan('watched', 'seen-b')
      const seenAt = await seen('seen-b 2')
      // Within the TTL (plus the watcher's 25 ms polling and a process's scheduling slack).
      expect(seenAt - changedAt).toBeLessThanOrEqual(TTL + 400)
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)

  it('deleting a plan a tenant is on is refused; unknown plans and versions are typed errors', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({ key: 'doomed', name: 'Doomed' })
    await plans.changePlan('doomed-t', 'doomed')
    const before = await db().rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_plans')
    await expect(plans.deletePlan('doomed')).rejects.toBeInstanceOf(PlanInUseError)
    await expect(plans.deletePlan('doomed')).rejects.toMatchObject({ tenantIds: ['doomed-t'] })
    expect(await db().rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_plans')).toEqual(before)
    await plans.definePlan({ key: 'refuge', name: 'Refuge' })
    await plans.changePlan('doomed-t', 'refuge')
    expect(await plans.deletePlan('doomed')).toBe(1)
    await expect(plans.getPlan('doomed')).rejects.toBeInstanceOf(PlanNotFoundError)
    await expect(plans.changePlan('doomed-t', 'nope')).rejects.toMatchObject({ key: 'nope', version: null })
    await expect(plans.changePlan('doomed-t', 'refuge', { version: 9 })).rejects.toMatchObject({ key: 'refuge', version: 9 })
    await expect(plans.movePlanVersion('refuge', { from: 1, to: 2 })).rejects.toBeInstanceOf(PlanNotFoundError)
    expect((await plans.planHistory('doomed-t')).map((a) => a.planKey)).toEqual(['doomed', 'refuge'])
  })
})
