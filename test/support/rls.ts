/**
 * PostgreSQL with the shipped row-level security applied, and clients that connect as roles a real
 * deployment would have — never the superuser the suite's other tests run as (superusers and
 * BYPASSRLS roles skip every policy, so a test on them proves nothing):
 *
 * - `app`: a plain LOGIN role (no superuser, no BYPASSRLS, owns nothing) with table privileges —
 *   the app's tenant-facing connection, isolated by the policies;
 * - `service`: a plain LOGIN role that is a member of the service group role the policies let
 *   through — the library's own connection.
 *
 * Role names are unique per database (roles are cluster-wide and test files run in parallel) and
 * dropped with it. The tables are owned by the suite's superuser, so neither role is their owner.
 */
import { randomBytes } from 'node:crypto'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { applyRowLevelSecurity } from '../../src/db/rls.ts'
import { preparedStatementName } from '../../src/db/pg.ts'
import { pgFastPath } from '../../src/db/pg-direct.ts'
import { afterAll, beforeAll } from 'vitest'
import { openDatabase, POSTGRES_URL, type TestClient, type TestDatabase } from './databases.ts'

export interface RlsDatabase {
  db: TestDatabase
  /** The app's plain role: every query is subject to the policies. */
  app: TestClient
  /** The library's role (a member of the service group role). */
  service: TestClient
  roles: { app: string; service: string; group: string }
  /** Raw queries as a role, on a connection of its own (one client per call: for checks that need a known session). */
  asRole<T = Record<string, unknown>>(role: 'app' | 'service', fn: (c: pg.Client) => Promise<T>): Promise<T>
  close(): Promise<void>
}

function urlAs(role: string): string {
  const url = new URL(POSTGRES_URL as string)
  url.username = role
  url.password = ''
  return url.toString()
}

function clientAs(role: string, schema: string, options: { fastPath?: boolean; max?: number } = {}): TestClient {
  const adapter = new PrismaPg(
    { connectionString: urlAs(role), options: `-c search_path="${schema}"`, max: options.max ?? 4 },
    { schema, statementNameGenerator: preparedStatementName },
  )
  return new PostgresClient({ adapter: options.fastPath === false ? adapter : pgFastPath(adapter) }) as unknown as TestClient
}

export async function openRlsDatabase(options: { max?: number } = {}): Promise<RlsDatabase> {
  const db = await openDatabase('postgresql')
  const suffix = randomBytes(4).toString('hex')
  const roles = { app: `llm_app_${suffix}`, service: `llm_svc_${suffix}`, group: `llm_service_${suffix}` }
  await db.rawQuery(`CREATE ROLE "${roles.group}" NOLOGIN`)
  await applyRowLevelSecurity(db.client, { serviceRole: roles.group })
  await db.rawQuery(`CREATE ROLE "${roles.service}" LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE "${roles.group}"`)
  await db.rawQuery(`CREATE ROLE "${roles.app}" LOGIN NOSUPERUSER NOBYPASSRLS`)
  await db.rawQuery(`GRANT USAGE ON SCHEMA "${db.location}" TO "${roles.app}"`)
  await db.rawQuery(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${db.location}" TO "${roles.app}"`)
  const app = clientAs(roles.app, db.location, options)
  const service = clientAs(roles.service, db.location, options)
  const asRole = async <T>(role: 'app' | 'service', fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: urlAs(roles[role]), options: `-c search_path="${db.location}"` })
    await c.connect()
    try {
      return await fn(c)
    } finally {
      await c.end()
    }
  }
  return {
    db,
    app,
    service,
    roles,
    asRole,
    async close() {
      await app.$disconnect()
      await service.$disconnect()
      await db.close()
      for (const role of [roles.app, roles.service, roles.group]) {
        await pgAdmin(async (c) => {
          await c.query(`DROP OWNED BY "${role}"`)
          await c.query(`DROP ROLE IF EXISTS "${role}"`)
        })
      }
    },
  }
}

async function pgAdmin(fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: POSTGRES_URL })
  await c.connect()
  try {
    await fn(c)
  } finally {
    await c.end()
  }
}

/** Opens an RLS database for the enclosing describe block; returns a getter. */
export function useRlsDatabase(options?: { max?: number }): () => RlsDatabase {
  let rls: RlsDatabase | undefined
  beforeAll(async () => {
    rls = await openRlsDatabase(options)
  })
  afterAll(async () => {
    await rls?.close()
  })
  return () => {
    if (!rls) throw new Error('database not open yet')
    return rls
  }
}
