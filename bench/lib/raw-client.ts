/**
 * The raw floor: a minimal stand-in for a Prisma client that runs the library's own SQL (the same
 * statements, same parameters, same transactions) straight through `pg` / `better-sqlite3`. Running
 * the unchanged budget pipeline on it measures what our SQL costs without Prisma in between.
 */
import Database from 'better-sqlite3'
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
  return new PostgresClient({ adapter: new PrismaPg({ connectionString: url, options: `-c search_path="${schema}"`, max: 10 }, { schema, statementNameGenerator: preparedStatementName }) })
}

type Params = unknown[]
const sqliteValue = (v: unknown) => (v instanceof Date ? v.toISOString().replace('Z', '+00:00') : typeof v === 'boolean' ? (v ? 1 : 0) : v)
const pgValue = (v: unknown) => (typeof v === 'bigint' ? v.toString() : v)
const camel = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]))

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
    llmExecution: {},
  }
}

export function rawSqliteClient(file: string) {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('busy_timeout = 5000')
  const cache = new Map<string, Database.Statement>()
  const stmt = (sql: string) => {
    let s = cache.get(sql)
    if (!s) cache.set(sql, (s = db.prepare(sql.replace(/\$\d+/g, '?'))))
    return s
  }
  const query = (sql: string, params: Params) => {
    const s = stmt(sql)
    return s.reader ? s.all(...params.map(sqliteValue)) : (s.run(...params.map(sqliteValue)), [])
  }
  const runner: Runner = {
    async $executeRawUnsafe(sql, ...params) {
      return stmt(sql).run(...params.map(sqliteValue)).changes
    },
    // Like Prisma's, a query is lazy: awaited alone it runs; handed to $transaction([...]) it runs in the batch.
    $queryRawUnsafe(sql, ...params) {
      return { sql, params, then: (ok: (v: unknown) => unknown, ko: (e: unknown) => unknown) => Promise.resolve().then(() => query(sql, params)).then(ok, ko) } as never
    },
  }
  let chain = Promise.resolve()
  return {
    _activeProvider: 'sqlite',
    ...runner,
    ...delegates(runner),
    // One connection: transactions queue behind each other, like the Prisma adapter's.
    $transaction(fn: ((tx: Runner) => Promise<unknown>) | Array<{ sql: string; params: Params }>) {
      const run = chain.then(async () => {
        db.exec('BEGIN IMMEDIATE')
        try {
          const out = Array.isArray(fn) ? fn.map((q) => query(q.sql, q.params)) : await fn(runner)
          db.exec('COMMIT')
          return out
        } catch (err) {
          db.exec('ROLLBACK')
          throw err
        }
      })
      chain = run.then(() => undefined, () => undefined)
      return run
    },
    close: () => db.close(),
  }
}

export function rawPgClient(url: string, schema: string, max = 10) {
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path="${schema}"${process.env.BENCH_SYNC_OFF ? " -c synchronous_commit=off" : ""}`, max })
  // Named (server-side prepared) statements, like the Prisma client with preparedStatementName.
  const statement = (sql: string, params: Params) => ({ name: `s${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`, text: sql, values: params.map(pgValue) })
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
