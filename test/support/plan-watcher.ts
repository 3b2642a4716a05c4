/**
 * Another process that admits calls: every 25 ms it asks the budget layer for the tenant's status
 * (the same tenant load admission does) and prints `PLAN <key> <dailyExecutions limit>` whenever
 * what it sees changes. argv: kind, location (SQLite file or PostgreSQL schema), tenant, tenantCacheTtlMs.
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { LlmBudgets } from '../../src/index.ts'

const [kind, location, tenant, ttl] = process.argv.slice(2)
const client =
  kind === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${location}` }) })
    : new PostgresClient({
        adapter: new PrismaPg({ connectionString: process.env.TEST_POSTGRES_URL, options: `-c search_path="${location}"` }, { schema: location }),
      })
const budgets = new LlmBudgets(client, { tenantCacheTtlMs: Number(ttl) })
let last = ''
for (;;) {
  const status = await budgets.status(tenant)
  const seen = `${status.plan?.key ?? 'none'} ${status.limits.dailyExecutions.limit}`
  if (seen !== last) process.stdout.write(`PLAN ${seen} ${Date.now()}\n`)
  last = seen
  await new Promise((r) => setTimeout(r, 25))
}
