/**
 * Regression: a call that waited (here: for its tenantConfigResolver) and was decided after a
 * later-started call computed its rate-limit wait from its own, earlier start instant on SQLite —
 * so `retryAfterMs` was overstated by the wait (70 s for a 60 s window in this test). Windows are
 * now decided at the moment of the decision on both databases (PostgreSQL: the database clock).
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { LlmBudgets, RateLimitExceededError } from '../../src/index.ts'

describe.each(DATABASES)('rate windows are decided at the decision, not at the call’s start, on %s', (kind) => {
  const db = useDatabase(kind)

  it('regression: a delayed call’s retryAfterMs was computed from its earlier start instant', async () => {
    let clock = Date.now()
    const budgets = new LlmBudgets(db().client, {
      now: () => new Date(clock),
      refusalBackoffMs: 0,
      budgets: { rateLimits: { requestsPerMinute: 1 }, enforcement: 'hard' },
      tenantConfigResolver: async (tenantId) => {
        if (tenantId === 'slow') await new Promise((r) => setTimeout(r, 100))
        return null
      },
    })
    const call = { agentType: 'Chat', model: 'm' }
    const slow = budgets.track('slow', call, async () => 'slow').catch((e) => e)
    clock += 10_000 // the fast call starts 10 s later and is decided first
    await budgets.track('fast', call, async () => 'fast')
    const refused = await slow
    expect(refused).toBeInstanceOf(RateLimitExceededError)
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000)
    if (kind === 'sqlite') expect(refused.retryAfterMs).toBe(60_000)
  })
})
