/**
 * Property-based isolation (fast-check): random interleavings of recorded calls, tracked calls,
 * configuration changes and queries over tenant ids built to alias (prefixes, separators, LIKE
 * wildcards, case, unicode, very long) plus calls with no tenant. Afterwards every query of every
 * tenant returns exactly that tenant's figures (a model kept in memory), and counters == ledger.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { LlmBudgets, TenantStore, createLedger } from '../../src/index.ts'

const IDS = ['a', 'a:b', 'a:', ':b', 'a%', 'a_', '%', 'A', 'ä', 'a b', '😀', 'x'.repeat(300), 'x'.repeat(299)]

type Command =
  | { kind: 'record'; tenant: number | null; nanos: number; tokens: number }
  | { kind: 'track'; tenant: number | null; nanos: number; tokens: number }
  | { kind: 'configure'; tenant: number; limit: number | null }
  | { kind: 'query'; tenant: number }

const tenantArb = fc.option(fc.integer({ min: 0, max: IDS.length - 1 }), { nil: null })
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('record' as const), tenant: tenantArb, nanos: fc.integer({ min: 0, max: 5_000 }), tokens: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constant('track' as const), tenant: tenantArb, nanos: fc.integer({ min: 0, max: 5_000 }), tokens: fc.integer({ min: 0, max: 50 }) }),
  fc.record({
    kind: fc.constant('configure' as const),
    tenant: fc.integer({ min: 0, max: IDS.length - 1 }),
    limit: fc.option(fc.integer({ min: 1_000_000, max: 10_000_000 }), { nil: null }),
  }),
  fc.record({ kind: fc.constant('query' as const), tenant: fc.integer({ min: 0, max: IDS.length - 1 }) }),
)

describe.each(DATABASES)('tenant isolation under random interleavings on %s', (kind) => {
  const db = useDatabase(kind)
  let run = 0
  let interleavings = 0

  it('no query ever returns or counts another tenant’s data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(commandArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), async (batches) => {
        run++
        const id = (i: number) => `r${run}|${IDS[i]}`
        const ledger = createLedger(db().client)
        const budgets = new LlmBudgets(db().client)
        const store = new TenantStore(db().client)
        const model = new Map<string | null, { nanos: bigint; tokens: number; count: number }>()
        const add = (t: string | null, nanos: number, tokens: number) => {
          const m = model.get(t) ?? { nanos: 0n, tokens: 0, count: 0 }
          m.nanos += BigInt(nanos)
          m.tokens += tokens
          m.count += 1
          model.set(t, m)
        }
        const usd = (nanos: number) => (nanos / 1e9).toFixed(9)
        for (const batch of batches) {
          interleavings++
          // Each batch runs concurrently: a random interleaving of writes, config changes and reads.
          await Promise.all(
            batch.map(async (c) => {
              const t = c.kind === 'query' || c.kind === 'configure' ? id(c.tenant) : c.tenant === null ? null : id(c.tenant)
              if (c.kind === 'record') {
                add(t, c.nanos, c.tokens)
                await ledger.recordExecution({ tenantId: t, agentType: 'P', model: 'm', inputCost: usd(c.nanos), inputTokens: c.tokens })
              } else if (c.kind === 'track') {
                add(t, c.nanos, c.tokens)
                await budgets.track(t, { agentType: 'P', model: 'm' }, async (call) => call.reportUsage({ inputCost: usd(c.nanos), inputTokens: c.tokens }))
              } else if (c.kind === 'configure') {
                await store.upsert({ tenantId: t!, limits: { dailyCost: c.limit === null ? null : c.limit / 1e9 }, enforcement: 'soft' })
              } else {
                const s = await ledger.usageSummary({ tenantId: t!, period: 'today' })
                expect(s.executions).toBeGreaterThanOrEqual(0)
              }
            }),
          )
        }
        for (let i = 0; i < IDS.length; i++) {
          const t = id(i)
          const expected = model.get(t) ?? { nanos: 0n, tokens: 0, count: 0 }
          const s = await ledger.usageSummary({ tenantId: t, period: 'today' })
          expect(s.cost.times(1e9).toFixed(0), `cost of ${t}`).toBe(expected.nanos.toString())
          expect(s.tokens, `tokens of ${t}`).toBe(expected.tokens)
          expect(s.executions, `count of ${t}`).toBe(expected.count)
          const q = { tenantId: t, period: 'today' as const }
          expect((await ledger.cost(q)).times(1e9).toFixed(0), `cost() of ${t}`).toBe(expected.nanos.toString())
          expect(await ledger.tokens(q), `tokens() of ${t}`).toBe(expected.tokens)
          expect(await ledger.executionCount(q), `executionCount() of ${t}`).toBe(expected.count)
          // Every grouping adds up to the tenant's own figures, never more.
          for (const groups of [await ledger.usageByAgent(q), await ledger.usageByModel(q), await ledger.usageByDay(q)]) {
            expect(
              Object.values(groups).reduce((n, g) => n + g.count, 0),
              `groups of ${t}`,
            ).toBe(expected.count)
          }
          const rows = await ledger.executions({ tenant: { id: t }, limit: 10_000 })
          expect(rows.every((r) => r.tenantId === t)).toBe(true)
          expect(rows).toHaveLength(expected.count)
          expect((await ledger.recentExecutions({ tenantId: t, limit: 10_000 })).every((r) => r.tenantId === t)).toBe(true)
          const status = await budgets.status(t)
          expect(status.limits.dailyExecutions.used, `counter of ${t}`).toBe(expected.count)
        }
        const top = await ledger.costByTenant({ period: 'today', limit: 10_000 })
        for (const row of top.filter((r) => r.tenantId.startsWith(`r${run}|`))) {
          expect(row.cost.times(1e9).toFixed(0)).toBe((model.get(row.tenantId)?.nanos ?? 0n).toString())
        }
      }),
      { numRuns: 40 },
    )
    expect(await new LlmBudgets(db().client).refreshCounters()).toMatchObject({ changed: 0 })
    expect(interleavings).toBeGreaterThan(40)
    console.log(`${kind}: ${run} runs, ${interleavings} concurrent interleavings`)
  }, 120_000)
})
