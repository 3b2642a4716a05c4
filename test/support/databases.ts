/**
 * Real databases for tests. Every database test runs on SQLite (a fresh file per call) and, when
 * TEST_POSTGRES_URL is set, on PostgreSQL (a fresh schema per call). REQUIRE_POSTGRES=1 (set by
 * .ci/run) turns a missing or unreachable PostgreSQL into a failure instead of a skip.
 */
import { afterAll, beforeAll } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { applyLlmTenantSchema } from '../../src/db/schema.ts'
import { preparedStatementName } from '../../src/db/pg.ts'
import { sqliteFastPath } from '../../src/db/sqlite-direct.ts'
import { pgFastPath } from '../../src/db/pg-direct.ts'

export type DbKind = 'sqlite' | 'postgresql'
/** Both generated clients have the same models; tests use the SQLite client's type for either. */
function newSqliteClient(file: string, fastPath = true) {
  const adapter = new PrismaBetterSqlite3({ url: `file:${file}` })
  return new SqliteClient({ adapter: fastPath ? sqliteFastPath(adapter) : adapter })
}
export type TestClient = ReturnType<typeof newSqliteClient>

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL
export const REQUIRE_POSTGRES = process.env.REQUIRE_POSTGRES === '1'

if (REQUIRE_POSTGRES && !POSTGRES_URL) {
  throw new Error('REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set')
}

/** The databases every database test runs on. */
export const DATABASES: DbKind[] = POSTGRES_URL ? ['sqlite', 'postgresql'] : ['sqlite']

export interface TestDatabase {
  kind: DbKind
  client: TestClient
  /** For PostgreSQL: the isolated schema; for SQLite: the database file. */
  location: string
  /** Runs raw SQL through the underlying driver (not Prisma), for checks and fault injection. */
  rawQuery<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

export interface OpenOptions {
  /** Apply the shipped DDL (default true). */
  applySchema?: boolean
  /**
   * Wrap the adapter with sqliteFastPath / pgFastPath (default true unless SQLITE_FAST_PATH=0 /
   * PG_FAST_PATH=0), so the budget hot path runs on the adapter's connection (pool) directly;
   * false = everything through Prisma.
   */
  fastPath?: boolean
}

export async function openDatabase(kind: DbKind, options: OpenOptions = {}): Promise<TestDatabase> {
  const db =
    kind === 'sqlite'
      ? await openSqlite(options.fastPath ?? process.env.SQLITE_FAST_PATH !== '0')
      : await openPostgres(options.fastPath ?? process.env.PG_FAST_PATH !== '0')
  if (options.applySchema !== false) await applyLlmTenantSchema(db.client as never)
  return db
}

async function openSqlite(fastPath: boolean): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-'))
  const file = join(dir, 'test.db')
  const client = newSqliteClient(file, fastPath)
  const { default: Database } = await import('better-sqlite3')
  let raw: InstanceType<typeof Database> | undefined
  return {
    kind: 'sqlite',
    client,
    location: file,
    async rawQuery<T>(sql: string, params: unknown[] = []) {
      raw ??= new Database(file)
      const stmt = raw.prepare(sql)
      return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as T[]
    },
    async close() {
      raw?.close()
      await client.$disconnect()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function openPostgres(fastPath: boolean): Promise<TestDatabase> {
  if (!POSTGRES_URL) throw new Error('TEST_POSTGRES_URL is not set')
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: POSTGRES_URL })
  await admin.connect()
  await admin.query(`CREATE SCHEMA "${schema}"`)
  await admin.query(`SET search_path TO "${schema}"`)
  const adapter = new PrismaPg(
    { connectionString: POSTGRES_URL, options: `-c search_path="${schema}"`, max: 10 },
    { schema, statementNameGenerator: preparedStatementName },
  )
  const client = new PostgresClient({ adapter: fastPath ? pgFastPath(adapter) : adapter }) as unknown as TestClient
  return {
    kind: 'postgresql',
    client,
    location: schema,
    async rawQuery<T>(sql: string, params: unknown[] = []) {
      return (await admin.query(sql, params)).rows as T[]
    },
    async close() {
      await client.$disconnect()
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    },
  }
}

/** Opens a fresh database for the enclosing describe block; returns a getter. */
export function useDatabase(kind: DbKind, options?: OpenOptions): () => TestDatabase {
  let db: TestDatabase | undefined
  beforeAll(async () => {
    db = await openDatabase(kind, options)
  })
  afterAll(async () => {
    await db?.close()
  })
  return () => {
    if (!db) throw new Error('database not open yet')
    return db
  }
}

/** Row counts of the library's tables, read through the raw driver (for "writes nothing" checks). */
export async function tableCounts(db: TestDatabase): Promise<{ executions: number; tenants: number }> {
  const [e] = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_executions')
  const [t] = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_tenants')
  return { executions: Number(e.n), tenants: Number(t.n) }
}
