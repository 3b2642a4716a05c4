/**
 * pgFastPath: the budget hot path on the PrismaPg adapter's own pool. It must be taken (no Prisma
 * queries per call, single or batched), write exactly what the Prisma path writes, bind dates as UTC
 * whatever the process time zone, keep hard limits exact under concurrency, fall back to Prisma
 * once the pool is gone, and leave other adapters alone.
 */
import { randomBytes } from 'node:crypto'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PrismaClient } from '../../generated/postgresql/client.ts'
import {
  BudgetExceededError,
  LlmBudgets,
  TenantStore,
  applyLlmTenantSchema,
  createLedger,
  createLlmRuntime,
  pgFastPath,
  preparedStatementName,
} from '../../src/index.ts'
import { POSTGRES_URL } from '../support/databases.ts'

const schemas: string[] = []
let admin: pg.Client

beforeAll(async () => {
  if (!POSTGRES_URL) return
  admin = new pg.Client({ connectionString: POSTGRES_URL })
  await admin.connect()
})
afterAll(async () => {
  if (!admin) return
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
  await admin.end()
})

async function open(fast: boolean, limits: { dailyCost?: string; dailyExecutions?: number } = { dailyCost: '1', dailyExecutions: 50 }) {
  const schema = `fast_${randomBytes(5).toString('hex')}`
  schemas.push(schema)
  await admin.query(`CREATE SCHEMA "${schema}"`)
  const factory = new PrismaPg(
    { connectionString: POSTGRES_URL, options: `-c search_path="${schema}"`, max: 10 },
    { schema, statementNameGenerator: preparedStatementName },
  )
  const client = new PrismaClient({ adapter: fast ? pgFastPath(factory) : factory, log: [{ emit: 'event', level: 'query' }] })
  const queries: string[] = []
  client.$on('query', (e) => queries.push(e.query))
  await applyLlmTenantSchema(client)
  await new TenantStore(client).upsert({ tenantId: 'acme', limits, enforcement: 'hard', maxConcurrent: 64 })
  return { client, queries, schema }
}

const call = { agentType: 'Fast', model: 'm', estimate: { cost: '0.01', tokens: 100 } }
const usage = async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputTokens: 7, outputTokens: 3, inputCost: '0.001', outputCost: '0.0005' })

/** Everything a path wrote, minus ids and clocks. */
async function snapshot(schema: string) {
  const q = async (sql: string) => (await admin.query(sql.replaceAll('$s', `"${schema}"`))).rows
  return {
    executions: await q(`SELECT tenant_id, agent_type, model, status, input_tokens, output_tokens, total_tokens, input_cost_nanos, output_cost_nanos,
        total_cost_nanos, error_class, error_message, metadata, completed_at IS NOT NULL AS completed FROM $s.llm_executions ORDER BY started_at, status`),
    counters: await q(`SELECT scope, tenant_id, agent_type, period, bucket, spent_cost_nanos, spent_tokens, spent_executions, reserved_cost_nanos,
        reserved_tokens, reserved_executions FROM $s.llm_budget_counters ORDER BY scope, tenant_id, agent_type, period`),
    holds: await q(`SELECT COUNT(*) AS n FROM $s.llm_budget_holds`),
  }
}

describe.skipIf(!POSTGRES_URL)('pgFastPath', () => {
  it('is taken: tracked calls, alone and concurrent (batched), send no query through Prisma once the tenant row is cached', async () => {
    const { client, queries } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    queries.length = 0
    for (let i = 0; i < 5; i++) await budgets.track('acme', call, usage)
    await Promise.all(Array.from({ length: 24 }, () => budgets.track('acme', call, usage)))
    expect(queries).toEqual([])
    // An agent's refusal row goes to the same connection.
    const agent = createLlmRuntime(client).defineAgent({ name: 'Refused', provider: 'openai', model: 'gpt-4o' })
    await expect(agent.run('hi', { tenant: { id: 'acme', limits: { dailyCost: '0.000001' } }, apiKeys: { openai: 'sk-x' } })).rejects.toBeInstanceOf(
      BudgetExceededError,
    )
    expect(queries.filter((q) => q.includes('INSERT'))).toEqual([])
    expect((await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today' })).executions).toBe(30)
    expect(await createLedger(client).refusedExecutions({ tenantId: 'acme' })).toHaveLength(1)
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('writes exactly what the Prisma path writes: successes, errors, refusals, counters and holds', async () => {
    const results = []
    for (const fast of [false, true]) {
      const { client, schema } = await open(fast)
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
      await budgets.track('acme', call, async (c) => c.reportUsage({ inputTokens: 2, metadata: { note: 'a\u0000b', n: 12345678901234567890n.toString() } }))
      // An agent's refusal is a ledger row written on its own (insertExecutionRowsStandalone).
      const agent = createLlmRuntime(client).defineAgent({ name: 'Refused', provider: 'openai', model: 'gpt-4o' })
      await expect(agent.run('hi', { tenant: { id: 'acme', limits: { dailyCost: '0.000001' } }, apiKeys: { openai: 'sk-x' } })).rejects.toBeInstanceOf(
        BudgetExceededError,
      )
      results.push(await snapshot(schema))
      expect((await budgets.refreshCounters()).changed).toBe(0)
      await client.$disconnect()
    }
    expect(results[1]).toEqual(results[0])
    expect(results[0].executions.map((e) => [e.status, e.error_class])).toEqual([
      ...Array(3).fill(['success', null]),
      ['error', 'Error'],
      ['refused', 'BudgetExceededError'],
      ['success', null],
      ['success', null],
      ['refused', 'BudgetExceededError'],
    ])
  })

  it('binds dates as UTC in any process time zone (a local-time bind would be 12:45 h off in Pacific/Chatham)', async () => {
    const { client, schema } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage) // tenant cached; the next call's statements all go to the pool
    const zone = process.env.TZ
    process.env.TZ = 'Pacific/Chatham'
    try {
      const before = Date.now()
      await budgets.track('acme', { ...call, agentType: 'Zoned' }, usage)
      const [row] = (
        await admin.query(
          `SELECT EXTRACT(EPOCH FROM started_at) * 1000 AS started, EXTRACT(EPOCH FROM completed_at) * 1000 AS completed FROM "${schema}".llm_executions WHERE agent_type = 'Zoned'`,
        )
      ).rows
      for (const t of [row.started, row.completed]) expect(Math.abs(Number(t) - before)).toBeLessThan(60_000)
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
    await client.$disconnect()
  })

  it('keeps a hard limit exact under 64 concurrent calls (batched admission and settle on the pool): 25 admitted of 64', async () => {
    const { client } = await open(true, { dailyExecutions: 25 })
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    const results = await Promise.allSettled(Array.from({ length: 64 }, () => budgets.track('acme', call, usage)))
    const refused = results.filter((r) => r.status === 'rejected')
    expect(refused.every((r) => (r as PromiseRejectedResult).reason instanceof BudgetExceededError)).toBe(true)
    expect(results.length - refused.length).toBe(24)
    const status = await budgets.status('acme')
    expect(status.limits.dailyExecutions.used).toBe(25)
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('falls back to Prisma once the pool has ended ($disconnect), and Prisma reconnects', async () => {
    const { client } = await open(true)
    const budgets = new LlmBudgets(client)
    await budgets.track('acme', call, usage)
    await client.$disconnect()
    await budgets.track('acme', call, usage)
    await budgets.track('acme', call, usage)
    expect((await createLedger(client).usageSummary({ tenantId: 'acme', period: 'today' })).executions).toBe(3)
    expect((await budgets.refreshCounters()).changed).toBe(0)
    await client.$disconnect()
  })

  it('leaves other adapters alone', () => {
    const other = { provider: 'sqlite', connect: async () => ({}) }
    expect(pgFastPath(other)).toBe(other)
    expect(other.connect.name).toBe('connect')
    const sqlite = new PrismaBetterSqlite3({ url: 'file::memory:' })
    expect(pgFastPath(sqlite)).toBe(sqlite)
  })
})
