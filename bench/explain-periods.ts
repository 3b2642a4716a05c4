/**
 * Period-query cost on PostgreSQL with a large ledger: seeds N executions (default 1,000,000) over
 * 1,000 tenants and 60 days into a scratch schema, then for each ledger query prints its median
 * latency over repeated runs and the plan PostgreSQL chose for the SQL Prisma sent (EXPLAIN ANALYZE).
 *
 *   TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test npx tsx bench/explain-periods.ts [rows]
 */
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/postgresql/client.ts'
import { applyLlmTenantSchema, createLedger } from '../src/index.ts'

const url = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
const rows = Number(process.argv[2] ?? 1_000_000)
const schema = `bench_periods_v2_${rows}`
const NOW = new Date('2026-11-18T15:00:00Z')

const admin = new pg.Client({ connectionString: url })
await admin.connect()
const exists = await admin.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'llm_executions'`, [schema])
const queries: Array<{ query: string; params: string }> = []
const prisma = new PrismaClient({
  adapter: new PrismaPg({ connectionString: url, options: `-c search_path="${schema}"` }, { schema }),
  log: [{ emit: 'event', level: 'query' }],
})
prisma.$on('query', (e) => queries.push({ query: e.query, params: e.params }))

if (exists.rowCount === 0) {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; CREATE SCHEMA "${schema}"`)
  await applyLlmTenantSchema(prisma)
  const t0 = performance.now()
  // 1,000 tenants × 60 days ending at NOW; 5% of rows without a tenant; costs in whole nanos.
  await admin.query(`SET search_path TO "${schema}"`)
  await admin.query(`
    INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens,
      total_tokens, input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at)
    SELECT 'e' || g, CASE WHEN g % 20 = 0 THEN NULL ELSE 'tenant-' || (g % 1000) END,
      (ARRAY['Support','Search','Summarizer','Translator'])[1 + g % 4], 'openai',
      (ARRAY['gpt-4o','gpt-4o-mini','claude-sonnet'])[1 + g % 3],
      CASE WHEN g % 50 = 0 THEN 'error' ELSE 'success' END,
      100 + g % 900, 50 + g % 300, 150 + g % 900 + g % 300, (g % 9000) * 15, (g % 7000) * 60, (g % 9000) * 15 + (g % 7000) * 60,
      500, ts, ts
    FROM (SELECT g, TIMESTAMP '2026-11-18 15:00:00' - (g::bigint * 5184000 / ${rows}) * INTERVAL '1 second' AS ts
          FROM generate_series(1, ${rows}) g) s`)
  await admin.query(`ANALYZE llm_executions`)
  console.log(`seeded ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}

const ledger = createLedger(prisma, { now: () => NOW, timeZone: 'Europe/Berlin' })
const tenantId = 'tenant-42'
const cases: Array<[string, () => Promise<unknown>]> = [
  ['cost today', () => ledger.cost({ tenantId, period: 'today' })],
  ['cost this_week', () => ledger.cost({ tenantId, period: 'this_week' })],
  ['cost last_week', () => ledger.cost({ tenantId, period: 'last_week' })],
  ['usageSummary this_month', () => ledger.usageSummary({ tenantId, period: 'this_month' })],
  ['usageSummary last_month', () => ledger.usageSummary({ tenantId, period: 'last_month' })],
  ['executionCount yesterday', () => ledger.executionCount({ tenantId, period: 'yesterday' })],
  ['usageByAgent this_month', () => ledger.usageByAgent({ tenantId, period: 'this_month' })],
  ['usageByModel this_month', () => ledger.usageByModel({ tenantId, period: 'this_month' })],
  ['usageByDay this_month', () => ledger.usageByDay({ tenantId, period: 'this_month' })],
  ['recentExecutions 20', () => ledger.recentExecutions({ tenantId, limit: 20 })],
  ['failedExecutions 20', () => ledger.failedExecutions({ tenantId, limit: 20 })],
  ['cost without tenant today', () => ledger.cost({ tenantId: null, period: 'today' })],
  ['costByTenant top 10 this_month', () => ledger.costByTenant({ period: 'this_month', limit: 10 })],
]

function inline(query: string, params: string): string {
  const values = JSON.parse(params) as unknown[]
  return query.replace(/\$(\d+)/g, (_m, i: string) => {
    const v = values[Number(i) - 1]
    return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`
  })
}

console.log(`| query | median ms (min–max, 15 runs) | plan (EXPLAIN ANALYZE of the SQL Prisma sent) |`)
console.log(`| --- | --- | --- |`)
await admin.query(`SET search_path TO "${schema}"`)
for (const [name, run] of cases) {
  await run()
  const times: number[] = []
  for (let i = 0; i < 15; i++) {
    queries.length = 0
    const t = performance.now()
    await run()
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  const q = queries[queries.length - 1]
  const plan = await admin.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${inline(q.query, q.params)}`)
  const lines = plan.rows.map((r: Record<string, string>) => r['QUERY PLAN'])
  const scans = [...new Set(lines.map((l) => /(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)[^(]*/.exec(l)?.[0]?.trim()).filter(Boolean))]
  const exec = lines.find((l) => l.startsWith('Execution Time'))
  console.log(`| ${name} | ${times[7].toFixed(2)} (${times[0].toFixed(2)}–${times[14].toFixed(2)}) | ${scans.join('; ')}; ${exec} |`)
}
await prisma.$disconnect()
await admin.end()
