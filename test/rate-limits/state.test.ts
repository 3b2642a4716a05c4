/**
 * Rate-limit state is one row per limited key, never one per request, and never grows without
 * bound: 10,000 tenants calling all day keep one row each (plus the global one), and rows whose
 * window has refilled — the same as no row — are pruned.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { LlmBudgets, defineLlmConfig } from '../../src/index.ts'

const TENANTS = 10_000
const call = { agentType: 'Chat', model: 'm' }

async function rows(db: ReturnType<ReturnType<typeof useDatabase>>): Promise<number> {
  const [row] = await db.rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_rate_limits')
  return Number(row.n)
}

describe.each(DATABASES)('rate-limit state on %s', (kind) => {
  const db = useDatabase(kind)

  it(`${TENANTS} tenants × a day of calls: one row per key, none left once their windows refill`, async () => {
    let now = Date.now()
    // SQLite decides on the app's clock (moved here through a day); PostgreSQL on its own clock.
    const config = defineLlmConfig({
      ...(kind === 'sqlite' ? { now: () => new Date(now) } : {}),
      budgets: { enforcement: 'hard' },
      refusalBackoffMs: 0,
    })
    if (kind === 'sqlite') await db().rawQuery('PRAGMA journal_mode = WAL') // the recommended setup (a commit costs ~2 ms otherwise)
    const b = new LlmBudgets(db().client, config)
    const ids = Array.from({ length: TENANTS }, (_, i) => `t${i}`)
    const started = performance.now()
    // Every tenant calls; then a tenth of them keep calling through the day (SQLite: hours apart).
    // The state stays one row per tenant and window, whatever the number of calls.
    // Each tenant's own windows (given on the call: no tenant row to write first).
    const rateLimits = { requestsPerSecond: 1_000_000, requestsPerMinute: 1_000_000 }
    const burst = (tenants: string[]) => Promise.all(tenants.map((id) => b.track({ id, rateLimits }, call, async () => 1)))
    for (let i = 0; i < ids.length; i += 64) await burst(ids.slice(i, i + 64))
    for (let hour = 0; hour < 5; hour++) {
      now += 3_600_000
      for (let i = 0; i < TENANTS / 10; i += 64) await burst(ids.slice(i, Math.min(i + 64, TENANTS / 10)))
    }
    console.log(`[${kind}] ${TENANTS + TENANTS / 2} calls of ${TENANTS} tenants in ${Math.round(performance.now() - started)} ms`)
    // Two windows per tenant (its second and minute windows).
    expect(await rows(db())).toBe(2 * TENANTS)
    // A day later every window has refilled: pruning leaves nothing.
    now += 86_400_000
    // (On PostgreSQL, at these limits a window owes at most 60 µs after a call: it has refilled by now.)
    expect(await b.pruneRateLimits()).toBe(2 * TENANTS)
    expect(await rows(db())).toBe(0)
    // And a call after the prune recreates only its own keys.
    await b.track({ id: 't1', rateLimits }, call, async () => 1)
    expect(await rows(db())).toBe(2)
  }, 180_000)
})
