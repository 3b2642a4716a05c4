/**
 * Extra Prisma clients onto a test database, for fault injection: a PostgreSQL client whose pool
 * connections carry an application_name (so a test can find and pg_terminate_backend() exactly
 * them), possibly through a TCP proxy or to a closed port; clients that cannot reach any database
 * (closed port, nonexistent SQLite directory); and a SQLite client that interleaves one standalone
 * statement into a transaction.
 */
import { createServer } from 'node:net'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { pgFastPath, preparedStatementName } from '../../src/index.ts'
import { POSTGRES_URL, type TestClient } from './databases.ts'

export interface PgClientOptions {
  appName?: string
  /** Connect to 127.0.0.1:<port> instead of the URL's host and port (a proxy, or a closed port). */
  port?: number
  max?: number
  /** Wrap the adapter with pgFastPath (default: yes unless PG_FAST_PATH=0). No: every statement through Prisma. */
  fastPath?: boolean
}

/** A PostgreSQL connection string with the host/port replaced. */
export function pgUrl(port?: number): string {
  if (!POSTGRES_URL) throw new Error('TEST_POSTGRES_URL is not set')
  if (port === undefined) return POSTGRES_URL
  const url = new URL(POSTGRES_URL)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return url.toString()
}

export function pgClient(schema: string, options: PgClientOptions = {}): TestClient {
  const adapter = new PrismaPg(
    { connectionString: pgUrl(options.port), options: `-c search_path="${schema}"`, application_name: options.appName, max: options.max ?? 10 },
    { schema, statementNameGenerator: preparedStatementName },
  )
  // Like the shared test clients: the recommended setup unless PG_FAST_PATH=0.
  const fast = options.fastPath ?? process.env.PG_FAST_PATH !== '0'
  return new PostgresClient({ adapter: fast ? pgFastPath(adapter) : adapter }) as unknown as TestClient
}

/** A TCP port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A client whose database cannot be reached: a closed port (PostgreSQL), a nonexistent directory (SQLite). */
export async function unreachableClient(kind: 'sqlite' | 'postgresql'): Promise<TestClient> {
  if (kind === 'sqlite') return new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:/nonexistent-${process.pid}/no/such/dir/llm.db` }) })
  return pgClient('public', { port: await closedPort() })
}

/** A plain pg client with the schema on its search_path (admin work: locks, pg_terminate_backend). */
export async function adminClient(schema: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: pgUrl(), application_name: 'fault-admin' })
  await c.connect()
  await c.query(`SET search_path TO "${schema}"`)
  return c
}

/** Terminates every backend of the given application_name (never the caller's own). Returns how many. */
export async function terminateBackends(admin: pg.Client, appName: string, extraWhere = ''): Promise<number> {
  const { rows } = await admin.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND datname = current_database()${extraWhere}`,
    [appName],
  )
  return rows.filter((r: { ok: boolean }) => r.ok).length
}

/**
 * A SQLite client whose adapter lets a test run ONE standalone statement on the same connection
 * right before the next transaction statement matching `gated` — what a concurrent call's (or the
 * app's) standalone statement does when its turn comes between a batch's statements (the adapter
 * serialises transactions only). The interleaved statement changes 0 rows.
 */
export function interleavingSqliteClient(file: string): { client: TestClient; interleaveBefore(gated: RegExp): { fired: () => number } } {
  type Query = { sql: string; args: unknown[]; argTypes: unknown[] }
  type Queryable = { queryRaw(q: Query): Promise<unknown>; executeRaw(q: Query): Promise<number>; startTransaction(...a: unknown[]): Promise<Queryable> }
  let gate: { re: RegExp; fired: number } | null = null
  const factory = new PrismaBetterSqlite3({ url: `file:${file}` })
  const connect = factory.connect.bind(factory)
  Object.assign(factory, {
    connect: async () => {
      const adapter = (await connect()) as unknown as Queryable
      const startTransaction = adapter.startTransaction.bind(adapter)
      adapter.startTransaction = async (...a: unknown[]) => {
        const tx = await startTransaction(...a)
        const queryRaw = tx.queryRaw.bind(tx)
        tx.queryRaw = async (q: Query) => {
          if (gate && gate.fired === 0 && gate.re.test(q.sql)) {
            gate.fired++
            await adapter.executeRaw({ sql: `UPDATE "llm_tenants" SET "name" = "name" WHERE "tenant_id" = 'no-such-tenant'`, args: [], argTypes: [] })
          }
          return queryRaw(q)
        }
        return tx
      }
      return adapter as never
    },
  })
  const client = new SqliteClient({ adapter: factory })
  return {
    client,
    interleaveBefore(re: RegExp) {
      const g = { re, fired: 0 }
      gate = g
      return { fired: () => g.fired }
    },
  }
}

/**
 * A PostgreSQL client on `schema` whose first `$queryRawUnsafe` matching `matches` is rejected with
 * `error` (what a lost connection or a serialization failure looks like to the library). The fault is
 * injected at the Prisma client, so this client has no pgFastPath (which would hand the hot path to
 * the pool directly). `failures()` says how many statements were rejected; disconnect it when done.
 */
export function pgClientFailingOnce(schema: string, matches: (sql: string) => boolean, error: Error): { client: TestClient; failures(): number } {
  const plain = pgClient(schema, { fastPath: false })
  let failures = 0
  const client = new Proxy(plain, {
    get(target, prop, receiver) {
      if (prop !== '$queryRawUnsafe') return Reflect.get(target, prop, receiver)
      return (sql: string, ...values: unknown[]) => {
        if (failures === 0 && matches(sql)) {
          failures++
          return Promise.reject(error)
        }
        return (target.$queryRawUnsafe as (s: string, ...v: unknown[]) => Promise<unknown>)(sql, ...values)
      }
    },
  })
  return { client, failures: () => failures }
}

/**
 * Forwards to `client` and counts what is sent through it: `sent.n` statements and transactions
 * ($queryRawUnsafe, $executeRawUnsafe, $transaction), `sent.sql` their SQL texts, `sent.tenantLoads`
 * the tenant-row reads (llmTenant.findUnique). Use it on a client without a fast path: the fast
 * paths send the hot path past the Prisma client.
 */
/**
 * The client with every statement sent through it counted. `n` counts the statements of the budget
 * pipeline (admission, settle, reads); a refusal's own ledger row (a standalone INSERT into
 * llm_executions) is counted in `refusalRows` instead: refusals are recorded, but must not cost an
 * admission.
 */
export function countingClient<C extends object>(client: C): { proxy: C; sent: { n: number; sql: string[]; tenantLoads: number; refusalRows: number } } {
  const sent = { n: 0, sql: [] as string[], tenantLoads: 0, refusalRows: 0 }
  const counted = new Set(['$queryRawUnsafe', '$executeRawUnsafe', '$transaction'])
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop === 'llmTenant' && value && typeof value === 'object') {
        return new Proxy(value, {
          get(model, method, r) {
            const fn = Reflect.get(model, method, r)
            if (method !== 'findUnique' || typeof fn !== 'function') return fn
            return (...args: unknown[]) => {
              sent.tenantLoads++
              return fn.apply(model, args)
            }
          },
        })
      }
      if (typeof prop === 'string' && counted.has(prop) && typeof value === 'function') {
        return (...args: unknown[]) => {
          if (typeof args[0] === 'string' && args[0].startsWith('INSERT INTO "llm_executions"')) sent.refusalRows++
          else sent.n++
          if (typeof args[0] === 'string') sent.sql.push(args[0])
          return value.apply(target, args)
        }
      }
      return value
    },
  })
  return { proxy, sent }
}
