/**
 * A process that gets admitted and then hangs mid-call, to be SIGKILLed by a test (a crashed
 * holder). argv: kind, location (SQLite file or PostgreSQL schema), tenant, holdTtlMs.
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
const budgets = new LlmBudgets(client, { holdTtlMs: Number(ttl) })
await budgets.track(tenant, { agentType: 'Crasher', model: 'm', estimate: { cost: '1', tokens: 100 } }, async () => {
  process.stdout.write('ADMITTED\n')
  await new Promise(() => {}) // never returns: the test kills us here
})
