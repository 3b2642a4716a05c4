/**
 * The PostgreSQL raw floor: a minimal stand-in for a Prisma client that runs the library's own SQL
 * (the same statements, same parameters, same transactions) straight through `pg`. Running the
 * unchanged budget pipeline on it measures what our SQL costs without Prisma in between. (SQLite's
 * floor replays the recorded statements instead: replay-floor.ts.)
 */
import pg from 'pg'
import { createHash } from 'node:crypto'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { preparedStatementName } from '../../src/index.ts'

/** A second Prisma client on the same SQLite file WITHOUT sqliteFastPath: every statement through Prisma. */
export function plainSqliteClient(file: string) {
  return new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }) })
}

/** A second Prisma client on the same PostgreSQL schema WITHOUT pgFastPath: every statement through Prisma. */
export function plainPgClient(url: string, schema: string) {
  return new PostgresClient({
    adapter: new PrismaPg({ connectionString: url, options: `-c search_path="${schema}"`, max: 10 }, { schema, statementNameGenerator: preparedStatementName }),
  })
}

type Params = unknown[]
const pgValue = (v: unknown) => (typeof v === 'bigint' ? v.toString() : v)
const camel = (row: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]))

interface Runner {
  $executeRawUnsafe(sql: string, ...params: Params): Promise<number>
  $queryRawUnsafe(sql: string, ...params: Params): Promise<unknown>
}

function delegates(runner: Runner) {
  return {
    llmTenant: {
      findUnique: async ({ where }: { where: { tenantId: string } }) => {
        const rows = (await runner.$queryRawUnsafe(`SELECT * FROM "llm_tenants" WHERE "tenant_id" = ${'$1'}`, where.tenantId)) as Record<string, unknown>[]
        return rows[0] ? camel(rows[0]) : null
      },
    },
    // Admission loads the tenant's plan assignments with its row (src/plans/load.ts): the same query.
    // The floor's tenants are on no plan, so the plans themselves are never read.
    llmTenantPlan: {
      findMany: async ({ where }: { where: { tenantId: string; OR: [unknown, { effectiveTo: { gt: Date } }] } }) => {
        const rows = (await runner.$queryRawUnsafe(
          `SELECT * FROM "llm_tenant_plans" WHERE "tenant_id" = ${'$1'} AND ("effective_to" IS NULL OR "effective_to" > ${'$2'}) ORDER BY "effective_from", "created_at"`,
          where.tenantId,
          where.OR[1].effectiveTo.gt,
        )) as Record<string, unknown>[]
        return rows.map(camel)
      },
    },
    // The client check (assertClient) asks that every model of the schema be there; the hot path uses none of these.
    llmExecution: {},
    llmPlan: {},
    llmApiKey: {},
    llmAgentConfig: {},
    llmAgentTemplate: {},
    llmInvoice: {},
    llmInvoiceLine: {},
    llmAuditEvent: {},
    llmSession: {},
    llmSessionItem: {},
  }
}

export function rawPgClient(url: string, schema: string, max = 10) {
  const pool = new pg.Pool({
    connectionString: url,
    options: `-c search_path="${schema}"${process.env.BENCH_SYNC_OFF ? ' -c synchronous_commit=off' : ''}`,
    max,
  })
  // Named (server-side prepared) statements, like the Prisma client with preparedStatementName.
  const statement = (sql: string, params: Params) => ({
    name: `s${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`,
    text: sql,
    values: params.map(pgValue),
  })
  const on = (q: { query: pg.Pool['query'] }): Runner => ({
    async $executeRawUnsafe(sql, ...params) {
      return (await q.query(statement(sql, params))).rowCount ?? 0
    },
    async $queryRawUnsafe(sql, ...params) {
      return (await q.query(statement(sql, params))).rows
    },
  })
  const runner = on(pool)
  return {
    _activeProvider: 'postgresql',
    ...runner,
    ...delegates(runner),
    async $transaction(fn: (tx: Runner) => Promise<unknown>) {
      const c = await pool.connect()
      try {
        await c.query('BEGIN')
        const out = await fn(on(c as unknown as { query: pg.Pool['query'] }))
        await c.query('COMMIT')
        return out
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        c.release()
      }
    },
    close: () => pool.end(),
  }
}
