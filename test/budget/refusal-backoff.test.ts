/**
 * Runaway protection (src/budget/perf/refusal-backoff.ts): a tenant refused again and again gets its
 * refusals later and later (capped); an occasional refusal, and every other tenant, is not delayed.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { BudgetExceededError, LlmBudgets, TenantStore } from '../../src/index.ts'
import { RefusalBackoff } from '../../src/budget/perf/refusal-backoff.ts'

describe('RefusalBackoff streaks', () => {
  it('3 free refusals, then 1, 2, 4 … ms up to the cap; a quiet second ends the streak; tenants are independent', () => {
    let t = 0
    const b = new RefusalBackoff(100, () => t)
    const delays = Array.from({ length: 12 }, () => ((t += 10), b.delayFor('a')))
    expect(delays).toEqual([0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 100, 100])
    expect(b.delayFor('b')).toBe(0) // another tenant starts its own streak
    expect(b.delayFor(null)).toBe(0)
    t += 999
    expect(b.delayFor('a')).toBe(100) // 999 ms apart: still the same streak
    t += 1000
    expect(b.delayFor('a')).toBe(0) // a quiet second: a new streak
    expect(new RefusalBackoff(0, () => t).delayFor('a')).toBe(0)
  })

  it('a streak of 2^40 refusals does not overflow the delay', () => {
    const b = new RefusalBackoff(250, () => 0)
    let last = 0
    for (let i = 0; i < 100; i++) last = b.delayFor('x')
    expect(last).toBe(250)
  })
})

describe.each(DATABASES)('refusal backoff through LlmBudgets.track on %s', (kind) => {
  const db = useDatabase(kind)

  it('a looping tenant waits for its later refusals; the first refusals and other tenants are answered without delay', async () => {
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'loop', limits: { dailyExecutions: 0 }, enforcement: 'hard' })
    await store.upsert({ tenantId: 'calm', limits: { dailyExecutions: 0 }, enforcement: 'hard' })
    const CAP = 300
    const budgets = new LlmBudgets(db().client, { refusalBackoffMs: CAP })
    const refuse = async (b: LlmBudgets, tenant: string) => {
      const started = performance.now()
      const err = await b.track(tenant, { agentType: 'A', model: 'm' }, async () => 'ran').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(BudgetExceededError)
      return performance.now() - started
    }
    const loop: number[] = []
    for (let i = 0; i < 14; i++) loop.push(await refuse(budgets, 'loop'))
    // Refusals 4–12 wait 1, 2, 4 … 256 ms; 13–14 the cap (a timer never fires early).
    expect(loop.slice(3).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(511 + 2 * CAP - 2)
    expect(Math.min(...loop.slice(-2))).toBeGreaterThanOrEqual(CAP - 1)
    // Another tenant's first refusals are not held back by the looping tenant's streak (a refusal with no
    // delay takes a few ms; the bound is the cap, far above it even on a loaded machine).
    for (let i = 0; i < 3; i++) expect(await refuse(budgets, 'calm')).toBeLessThan(CAP)
    // Off: the same loop is never held back.
    const off = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    const offTimes: number[] = []
    for (let i = 0; i < 14; i++) offTimes.push(await refuse(off, 'loop'))
    expect(Math.max(...offTimes.slice(-2))).toBeLessThan(CAP)
  })

  it('an aborted call is not held back for the whole delay', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'abort-loop', limits: { dailyExecutions: 0 }, enforcement: 'hard' })
    const budgets = new LlmBudgets(db().client, { refusalBackoffMs: 60_000 })
    for (let i = 0; i < 20; i++) {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), 20)
      const err = await budgets.track('abort-loop', { agentType: 'A', model: 'm', signal: controller.signal }, async () => 'ran').catch((e: unknown) => e)
      clearTimeout(timer)
      expect(err).toBeInstanceOf(BudgetExceededError) // still the refusal, after at most ~20 ms
    }
  }, 10_000)
})
