/**
 * An agent's refusals are ledger rows (status `refused`, zero cost, listed by refusedExecutions). A tenant refused in
 * a loop must not turn them into a statement per refusal competing for the pool: at most one such
 * statement per client is in flight, and rows of refusals made meanwhile go together in the next.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { BudgetExceededError, TenantStore, createLedger, createLlmRuntime } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

/** The client, with every ledger INSERT counted: how many were sent, and how many at once at most. */
function countingInserts(client: object) {
  const seen = { statements: 0, inFlight: 0, maxInFlight: 0 }
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if ((prop !== '$queryRawUnsafe' && prop !== '$executeRawUnsafe') || typeof value !== 'function') return value
      return async (sql: string, ...args: unknown[]) => {
        if (!sql.startsWith('INSERT INTO "llm_executions"')) return value.call(target, sql, ...args)
        seen.statements++
        seen.maxInFlight = Math.max(seen.maxInFlight, ++seen.inFlight)
        try {
          return await value.call(target, sql, ...args)
        } finally {
          seen.inFlight--
        }
      }
    },
  })
  return { proxy, seen }
}

describe.each(DATABASES)('refusal rows on %s', (kind) => {
  // Through Prisma (no fast path): there the inserts are asynchronous and can pile up.
  const database = useDatabase(kind, { fastPath: false })

  it('200 refusals at once: 200 zero-cost refusal rows, one statement in flight at a time (PostgreSQL: far fewer than 200)', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'looping', limits: { dailyExecutions: 0 }, enforcement: 'hard' })
    const { proxy, seen } = countingInserts(database().client)
    const rt = createLlmRuntime(proxy, {
      providers: { openai: { baseURL: emulator.openaiBaseURL } },
      tenantApiKeys: async () => ({ openai: 'sk-looping-0001' }),
      config: { refusalBackoffMs: 0 },
    })
    const agent = rt.defineAgent({ name: 'Loop', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => agent.run(`loop ${i}`, { tenant: 'looping' })))
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError)).toBe(true)
    expect(emulator.requests.filter((r) => r.apiKey === 'sk-looping-0001')).toHaveLength(0)
    const rows = await createLedger(database().client).refusedExecutions({ tenantId: 'looping', limit: 500 })
    expect(rows).toHaveLength(200)
    expect(rows.every((r) => r.status === 'refused' && r.errorClass === 'BudgetExceededError' && r.totalCost.isZero() && r.totalTokens === 0)).toBe(true)
    expect(seen.maxInFlight).toBe(1)
    expect(seen.statements).toBeGreaterThanOrEqual(1)
    // PostgreSQL: refusals are decided concurrently (the pool), so their rows pile up and are batched.
    // SQLite runs one statement at a time on its connection: refusals arrive one by one, and so do
    // their rows — nothing to batch, nothing piling up either.
    if (kind === 'postgresql') expect(seen.statements).toBeLessThan(50)
  })
})
