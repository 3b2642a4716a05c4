/**
 * Rate limits decided in the same admission as the budgets (GCRA, src/rate-limits/gcra.ts), on
 * every admission path: a burst of N + k admits exactly N; retryAfterMs is the first moment a
 * retry passes; token windows hold the estimate and settle to the actual; a refused call consumes
 * nothing — neither budget nor window; every scope (tenant, its agents, global, global × agent).
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  BudgetExceededError,
  LlmBudgets,
  RateLimitExceededError,
  TenantStore,
  createLedger,
  defineLlmConfig,
  rateLimitHeaders,
  retryAfterSeconds,
} from '../../src/index.ts'

const call = { agentType: 'Chat', model: 'gpt-4o-mini' }
const ok = async () => 'ok'

const PATHS = DATABASES.flatMap((kind) => [
  { kind, fastPath: true, label: `${kind} (${kind === 'sqlite' ? 'sqliteFastPath' : 'pgFastPath'})` },
  { kind, fastPath: false, label: `${kind} (through Prisma)` },
])

async function outcomes(promises: Array<Promise<unknown>>) {
  const settled = await Promise.allSettled(promises)
  const refused = settled.flatMap((r) => (r.status === 'rejected' && r.reason instanceof RateLimitExceededError ? [r.reason] : []))
  const other = settled.flatMap((r) => (r.status === 'rejected' && !(r.reason instanceof RateLimitExceededError) ? [r.reason] : []))
  return { admitted: settled.filter((r) => r.status === 'fulfilled').length, refused, other }
}

describe.each(PATHS)('rate windows on $label', ({ kind, fastPath }) => {
  const db = useDatabase(kind, { fastPath })

  it('a burst of N + k requests against N per minute admits exactly N; each refusal names the window and when to retry', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'burst', rateLimits: { requestsPerMinute: 10 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    const { admitted, refused, other } = await outcomes(Array.from({ length: 16 }, () => b.track('burst', call, ok)))
    expect(other).toEqual([])
    expect([admitted, refused.length]).toEqual([10, 6])
    for (const e of refused) {
      expect(e).toMatchObject({
        scope: 'tenant',
        tenantId: 'burst',
        limitName: 'requestsPerMinute',
        window: 'minute',
        limitType: 'requests',
        limit: 10,
        source: 'tenant',
      })
      // One request refills every 6 s: the wait is at most that, at least a millisecond.
      expect(e.retryAfterMs).toBeGreaterThan(0)
      expect(e.retryAfterMs).toBeLessThanOrEqual(6_000)
      expect(e.resetsAt).toBeInstanceOf(Date)
      expect(retryAfterSeconds(e)).toBe(Math.ceil((e.retryAfterMs as number) / 1000))
    }
    // The refusals consumed nothing and are rows of their own status; the 10 admitted are executions.
    const ledger = createLedger(db().client)
    expect(await ledger.executionCount({ tenantId: 'burst', period: 'today' })).toBe(10)
    expect(await ledger.refusedExecutions({ tenantId: 'burst', limit: 50 })).toHaveLength(6)
    const [window] = await b.rateLimitStatus('burst')
    expect(window).toMatchObject({ scope: 'tenant', name: 'requestsPerMinute', limit: 10, remaining: 0, source: 'tenant' })
    expect(window.resetsAt.getTime()).toBeGreaterThan(Date.now() + 50_000)
    const headers = rateLimitHeaders([window], new Date())
    expect(headers['RateLimit-Policy']).toBe('"requests-minute";q=10;w=60')
    expect(headers.RateLimit).toMatch(/^"requests-minute";r=0;t=(59|60)$/)
  })

  it('retryAfterMs is exact: a retry just before it is refused, one at it passes', async () => {
    // 2 a second: an interval of 500 ms. The wait is 500 ms minus the time the two admitted calls
    // took (a loaded CI machine takes up to ~200 ms for them through Prisma): the margins allow it.
    await new TenantStore(db().client).upsert({ tenantId: 'exact', rateLimits: { requestsPerSecond: 2 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    for (let i = 0; i < 2; i++) await b.track('exact', call, ok)
    const first = await b.track('exact', call, ok).catch((e: unknown) => e as RateLimitExceededError)
    expect(first).toBeInstanceOf(RateLimitExceededError)
    const wait = (first as RateLimitExceededError).retryAfterMs as number
    expect(wait).toBeGreaterThan(150)
    expect(wait).toBeLessThanOrEqual(500)
    // Half-way there: still refused, with a shorter wait.
    await new Promise((r) => setTimeout(r, wait / 2))
    const again = await b.track('exact', call, ok).catch((e: unknown) => e as RateLimitExceededError)
    expect(again).toBeInstanceOf(RateLimitExceededError)
    expect((again as RateLimitExceededError).retryAfterMs).toBeLessThan(wait)
    await new Promise((r) => setTimeout(r, (again as RateLimitExceededError).retryAfterMs as number))
    expect(await b.track('exact', call, ok)).toBe('ok')
  })

  it('token windows hold the estimate and settle to the actual', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'tokens', rateLimits: { tokensPerHour: 1000 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    const est = { ...call, estimate: { tokens: 400 } }
    let release!: () => void
    const held = b.track('tokens', est, (c) => new Promise<void>((r) => (release = () => (c.reportUsage({ inputTokens: 50, outputTokens: 50 }), r()))))
    while (!release) await new Promise((r) => setTimeout(r, 5))
    await b.track('tokens', est, async (c) => c.reportUsage({ inputTokens: 80, outputTokens: 20 }))
    // 400 held + 100 used: a third 400 does not fit under 1000.
    await expect(b.track('tokens', { ...call, estimate: { tokens: 600 } }, ok)).rejects.toBeInstanceOf(RateLimitExceededError)
    release()
    await held
    // Both settled to 100 actual tokens: 800 are free again.
    const [status] = await b.rateLimitStatus('tokens')
    expect(status).toMatchObject({ name: 'tokensPerHour', limit: 1000, remaining: 800 })
    expect(await b.track('tokens', { ...call, estimate: { tokens: 800 } }, async (c) => c.reportUsage({ inputTokens: 800 }))).toBeUndefined()
    // An estimate above the whole window can never pass: refused at once, with no retry time.
    const never = await b.track('tokens', { ...call, estimate: { tokens: 1001 } }, ok).catch((e: unknown) => e as RateLimitExceededError)
    expect(never).toMatchObject({ limitName: 'tokensPerHour', retryAfterMs: null, resetsAt: null })
  })

  it('one atomic decision: a call refused by a window consumes no budget, one refused by a budget consumes no window', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'both', limits: { dailyExecutions: 3 }, rateLimits: { requestsPerMinute: 2 }, enforcement: 'hard' })
    const b = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    await b.track('both', call, ok)
    await b.track('both', call, ok)
    await expect(b.track('both', call, ok)).rejects.toBeInstanceOf(RateLimitExceededError)
    const status = await b.status('both')
    expect([status.limits.dailyExecutions.used, status.limits.dailyExecutions.reserved]).toEqual([2, 0])
    // Now the budget is the tighter one: the window (raised) is not consumed by its refusal.
    await new TenantStore(db().client).update('both', { limits: { dailyExecutions: 2 }, rateLimits: { requestsPerMinute: 10 } })
    const fresh = new LlmBudgets(db().client, { refusalBackoffMs: 0 })
    await expect(fresh.track('both', call, ok)).rejects.toBeInstanceOf(BudgetExceededError)
    const [window] = await fresh.rateLimitStatus('both')
    expect(window).toMatchObject({ limit: 10, remaining: 8 })
    expect(await fresh.refreshCounters({ tenantId: 'both' })).toMatchObject({ changed: 0 })
  })

  it('every scope: global, global × agent, the tenant’s agents, and an override on the call', async () => {
    const config = defineLlmConfig({
      budgets: { enforcement: 'hard', rateLimits: { requestsPerMinute: 100 }, perAgentRateLimits: { Busy: { requestsPerMinute: 3 } } },
      refusalBackoffMs: 0,
    })
    const b = new LlmBudgets(db().client, config)
    // global × agent: 3 per minute across all tenants.
    const busy = await outcomes(['t1', 't2', 't3', 't4'].map((t) => b.track(t, { ...call, agentType: 'Busy' }, ok)))
    expect([busy.admitted, busy.refused.map((e) => [e.scope, e.limitName, e.source])]).toEqual([3, [['agent', 'requestsPerMinute', 'global']]])
    // The tenant's own per-agent window.
    await new TenantStore(db().client).upsert({ tenantId: 'agentful', agentRateLimits: { Chat: { requestsPerMinute: 1 } }, enforcement: 'hard' })
    await b.track('agentful', call, ok)
    await expect(b.track('agentful', call, ok)).rejects.toMatchObject({
      scope: 'agent',
      tenantId: 'agentful',
      limitName: 'requestsPerMinute',
      source: 'tenant',
    })
    expect(await b.track('agentful', { ...call, agentType: 'Other' }, ok)).toBe('ok')
    // An override on the call wins over the tenant and the global value (the tenant inherits 100/min otherwise).
    await b.track({ id: 'ov', rateLimits: { requestsPerMinute: 1 } }, call, ok)
    await expect(b.track({ id: 'ov', rateLimits: { requestsPerMinute: 1 } }, call, ok)).rejects.toMatchObject({ scope: 'tenant', source: 'override' })
    const inherited = await b.rateLimitStatus('ov')
    expect(inherited.map((w) => [w.scope, w.limit, w.source])).toEqual([
      ['tenant', 100, 'global'],
      ['global', 100, 'global'],
    ])
    // A call without a tenant is decided on the global windows alone (no counter row at all).
    expect(await b.track(null, call, ok)).toBe('ok')
  })
})
