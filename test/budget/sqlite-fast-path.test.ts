/**
 * sqliteFastPath: the budget hot path on the adapter's own better-sqlite3 connection. It must be
 * taken (no Prisma queries per call), write exactly what the Prisma path writes, never run inside
 * somebody else's open transaction, honour the adapter's timestamp format, and roll back whole.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { PrismaClient } from '../../generated/sqlite/client.ts'
import {
  AdmissionError,
  BudgetExceededError,
  LlmBudgets,
  TenantStore,
  applyLlmTenantSchema,
  createLedger,
  createLlmRuntime,
  sqliteFastPath,
  Decimal,
} from '../../src/index.ts'

const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

async function open(fast: boolean, options?: { timestampFormat?: 'iso8601' | 'unixepoch-ms' }) {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fast-'))
  dirs.push(dir)
  const factory = new PrismaBetterSqlite3({ url: `file:${join(dir, 'db.sqlite')}` }, options)
  const client = new PrismaClient({ adapter: fast ? sqliteFastPath(factory) : factory, log: [{ emit: 'event', level: 'query' }] })
  const queries: string[] = []
  client.$on('query', (e) => queries.push(e.query))
  await applyLlmTenantSchema(client)
  await new TenantStore(client).upsert({ tenantId: 'acme', limits: { dailyCost: '1', dailyExecutions: 50 }, enforcement: 'hard', maxConcurrent: 5 })
  return { client, queries }
}

const call = { agentType: 'Fast', model: 'm', estimate: { cost: '0.01', tokens: 100 } }
const usage = async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputTokens: 7, outputTokens: 3, inputCost: '0.001', outputCost: '0.0005' })

/** Everything both paths wrote, minus ids and clocks (refusal rows too, unless `refusals: false`). */
async function snapshot(client: PrismaClient, { refusals = true } = {}) {
  const executions = await client.$queryRawUnsafe<Record<string, unknown>[]>(
    `SELECT tenant_id, agent_type, model, status, input_tokens, output_tokens, total_tokens, input_cost_nanos, output_cost_nanos, total_cost_nanos,
       error_class, metadata, typeof(started_at) AS started_type, length(started_at) AS started_len FROM llm_executions
     ${refusals ? '' : `WHERE status <> 'refused'`} ORDER BY started_at, status`,
  )
  const counters = await client.$queryRawUnsafe<Record<string, unknown>[]>(
    `SELECT scope, tenant_id, agent_type, period, spent_cost_nanos, spent_tokens, spent_executions, reserved_cost_nanos, reserved_tokens, reserved_executions
     FROM llm_budget_counters ORDER BY scope, period`,
  )
  const holds = await client.$queryRawUnsafe<Record<string, unknown>[]>(`SELECT COUNT(*) AS n FROM llm_budget_holds`)
  return { executions, counters, holds }
}

describe('sqliteFastPath', () => {
  it('is taken: a tracked call sends no query through Prisma once the tenant row is cached', async () => {
    const { client, queries } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    queries.length = 0
    for (let i = 0; i < 5; i++) await budgets.track('acme', call, usage)
    expect(queries).toEqual([])
    // An agent's refusal row goes to the same connection.
    const agent = createLlmRuntime(client).defineAgent({ name: 'Refused', provider: 'openai', model: 'gpt-4o' })
    await expect(agent.run('hi', { tenant: { id: 'acme', limits: { dailyCost: '0.000001' } }, apiKeys: { openai: 'sk-x' } })).rejects.toBeInstanceOf(
      BudgetExceededError,
    )
    expect(queries.filter((q) => q.includes('INSERT'))).toEqual([])
    expect((await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today' })).executions).toBe(6)
    expect((await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today', includeRefused: true })).executions).toBe(7)
    await client.$disconnect()
  })

  it('writes exactly what the Prisma path writes: successes, errors, refusals, counters and holds', async () => {
    const results = []
    for (const fast of [false, true]) {
      const { client } = await open(fast)
      const budgets = new LlmBudgets(client)
      for (let i = 0; i < 3; i++) await budgets.track('acme', call, usage)
      await expect(
        budgets.track('acme', call, async (c) => {
          c.reportUsage({ inputCost: '0.002' })
          throw new Error('provider down')
        }),
      ).rejects.toThrow('provider down')
      await expect(budgets.track('acme', { ...call, estimate: { cost: '5' } }, usage)).rejects.toMatchObject({ limitType: 'dailyCost' })
      await budgets.track(null, call, usage)
      // An agent's refusal is a ledger row written on its own (insertExecutionRowsStandalone).
      const agent = createLlmRuntime(client).defineAgent({ name: 'Refused', provider: 'openai', model: 'gpt-4o' })
      await expect(agent.run('hi', { tenant: { id: 'acme', limits: { dailyCost: '0.000001' } }, apiKeys: { openai: 'sk-x' } })).rejects.toBeInstanceOf(
        BudgetExceededError,
      )
      results.push(await snapshot(client))
      expect((await budgets.refreshCounters()).changed).toBe(0)
      await client.$disconnect()
    }
    expect(results[1]).toEqual(results[0])
    expect(results[0].executions.map((e) => [e.status, e.error_class])).toEqual([
      ...Array(3).fill(['success', null]),
      ['error', 'Error'],
      ['refused', 'BudgetExceededError'],
      ['success', null],
      ['refused', 'BudgetExceededError'],
    ])
  })

  it('never runs inside another open transaction: a rolled-back interactive transaction does not take a concurrent call with it', async () => {
    const { client } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage) // warm the tenant cache
    let tracked: Promise<unknown> | undefined
    await expect(
      client.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`INSERT INTO llm_tenants (id, tenant_id, updated_at) VALUES ('x', 'rolled-back', '2026-01-01T00:00:00.000+00:00')`)
        // A tracked call starts while this transaction is open on the same connection, then the transaction fails.
        tracked = budgets.track('acme', call, usage)
        await new Promise((r) => setTimeout(r, 30))
        throw new Error('app rollback')
      }),
    ).rejects.toThrow('app rollback')
    await tracked
    expect(await client.llmTenant.count({ where: { tenantId: 'rolled-back' } })).toBe(0)
    expect((await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today' })).executions).toBe(2)
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('binds dates in the adapter’s timestamp format (unixepoch-ms), so period queries find the rows', async () => {
    const results = []
    for (const fast of [false, true]) {
      const { client } = await open(fast, { timestampFormat: 'unixepoch-ms' })
      const budgets = new LlmBudgets(client)
      await budgets.track('acme', call, usage)
      const [row] = await client.$queryRawUnsafe<Array<{ t: string }>>(`SELECT typeof(started_at) AS t FROM llm_executions`)
      results.push(row.t)
      const summary = await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today' })
      expect([summary.executions, summary.cost.toFixed()]).toEqual([1, '0.0015'])
      await client.$disconnect()
    }
    expect(results).toEqual(['integer', 'integer'])
  })

  it('a failing statement rolls the whole batch back: no counter moved, no ledger row, fail closed', async () => {
    const { client } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    const before = await snapshot(client)
    await client.$executeRawUnsafe('ALTER TABLE llm_budget_holds RENAME TO llm_budget_holds_gone')
    await expect(budgets.track('acme', call, usage)).rejects.toBeInstanceOf(AdmissionError)
    await client.$executeRawUnsafe('ALTER TABLE llm_budget_holds_gone RENAME TO llm_budget_holds')
    expect(await snapshot(client)).toEqual(before)
    await budgets.track('acme', call, usage) // the connection is usable afterwards
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('a refusal by a later counter row rolls back the rows updated before it: nothing stays reserved', async () => {
    // The fast path updates one counter row at a time, in key order: the tenant's day row (no
    // limit hit) is updated before its month row refuses. Only the ROLLBACK undoes the day row.
    const { client } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    const before = await snapshot(client, { refusals: false })
    // A fresh instance each time: no cache of this process may refuse before the database does.
    const tight = { id: 'acme', limits: { monthlyCost: '0.005' } }
    await expect(new LlmBudgets(client).track(tight, call, usage)).rejects.toMatchObject({ limitType: 'monthlyCost', current: new Decimal('0.0015') })
    expect(await snapshot(client, { refusals: false })).toEqual(before)
    // maxConcurrent: the in-flight row (after the day row in key order) refuses the 6th call in flight.
    const release: Array<() => void> = []
    const inFlight = Array.from({ length: 5 }, () =>
      budgets.track(
        'acme',
        call,
        (c) =>
          new Promise<void>((r) =>
            release.push(() => {
              c.reportUsage({ inputCost: '0.001' })
              r()
            }),
          ),
      ),
    )
    while (release.length < 5) await new Promise((r) => setTimeout(r, 5))
    const during = await snapshot(client, { refusals: false })
    await expect(new LlmBudgets(client).track('acme', { ...call, agentType: 'Other' }, usage)).rejects.toMatchObject({ limitType: 'maxConcurrent' })
    expect(await snapshot(client, { refusals: false })).toEqual(during)
    // What the two refusals did write: their refusal rows, and nothing else.
    expect((await snapshot(client)).executions.filter((e) => e.status === 'refused').map((e) => e.error_class)).toEqual([
      'BudgetExceededError',
      'BudgetExceededError',
    ])
    release.forEach((r) => r())
    await Promise.all(inFlight)
    expect(before.counters.every((c) => c.reserved_executions === 0n)).toBe(true)
    expect((await snapshot(client)).counters.every((c) => c.reserved_executions === 0n && c.reserved_cost_nanos === 0n)).toBe(true)
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('leaves other adapters alone', () => {
    const other = { provider: 'postgres', connect: async () => ({}) }
    expect(sqliteFastPath(other)).toBe(other)
    expect(other.connect.name).toBe('connect')
  })
})
