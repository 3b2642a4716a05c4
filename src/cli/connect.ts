/**
 * The command's database connection, from `DATABASE_URL` alone — never the app's code or config.
 *
 * The provider is the URL's scheme (`file:` → SQLite, `postgres://` / `postgresql://` →
 * PostgreSQL) or `--provider`. The client is the package's own Prisma client for the library's
 * models (generated/cli/<provider>/, built from llm-tenant.prisma when the package is built — see
 * scripts/cli-client.mjs), so the library's own code (ledger queries, key issuing, tenant writes,
 * counter refresh) runs exactly as in the app. It runs on the app's installed `@prisma/client`
 * runtime and driver adapter (`@prisma/adapter-better-sqlite3` / `@prisma/adapter-pg`, optional
 * peer dependencies of the package): a missing one is a clear failure with its install command.
 *
 * PostgreSQL: `?schema=name` (Prisma's convention) selects the schema — passed to the server as
 * `search_path` (the library's SQL names its tables unqualified) and to the adapter.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute, resolve } from 'node:path'
import { assertClient, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { CliFailure, registerSecret, UsageError } from './errors.js'
import type { Io } from './io.js'
import { environment, type DbFlags } from './command.js'

export interface Connection {
  client: LlmPrismaClient
  provider: SqlProvider
  /** Where it is connected, without credentials: a file path, or host/database (schema). */
  location: string
  close(): Promise<void>
}

interface Target {
  provider: SqlProvider
  sqlitePath?: string
  pg?: { connectionString: string; schema?: string }
  location: string
}

/** Which database DATABASE_URL names (checked, nothing opened yet). */
function resolveTarget(flags: DbFlags, io: Io): Target {
  const env = environment(flags, io)
  const url = env.DATABASE_URL
  if (url === undefined || url.trim() === '') {
    throw new UsageError('DATABASE_URL', 'the database URL in the environment (file:./dev.db, postgresql://user@host:5432/db), or in --env-file')
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  const inferred: SqlProvider | undefined = scheme === 'file' ? 'sqlite' : scheme === 'postgres' || scheme === 'postgresql' ? 'postgresql' : undefined
  const provider = flags.provider ?? inferred
  if (provider === undefined) {
    throw new UsageError(
      '--provider',
      'sqlite or postgresql (DATABASE_URL must start with file: or postgres(ql):// for the provider to be inferred)',
      scheme ? `${scheme}:…` : '(no URL scheme)',
    )
  }
  if (inferred !== undefined && inferred !== provider) {
    throw new UsageError('--provider', `${inferred} (DATABASE_URL is a ${inferred} URL)`, provider)
  }
  if (provider === 'sqlite') {
    const path = url.replace(/^file:/i, '').replace(/\?.*$/, '')
    if (path === '' || path === ':memory:') throw new UsageError('DATABASE_URL', 'a SQLite database file, e.g. file:./dev.db', url)
    const absolute = isAbsolute(path) ? path : resolve(io.cwd, path)
    return { provider, sqlitePath: absolute, location: absolute }
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError('DATABASE_URL', 'a PostgreSQL URL such as postgresql://user:password@host:5432/database?schema=public', '(not a URL)')
  }
  registerSecret(decodeURIComponent(parsed.password))
  const schema = parsed.searchParams.get('schema') ?? undefined
  parsed.searchParams.delete('schema')
  if (schema !== undefined) {
    const quoted = `"${schema.replaceAll('"', '""')}"`.replaceAll(' ', '\\ ')
    const options = parsed.searchParams.get('options')
    parsed.searchParams.set('options', `${options ? `${options} ` : ''}-c search_path=${quoted}`)
  }
  const location = `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}${schema ? ` (schema ${schema})` : ''}`
  return { provider, pg: { connectionString: parsed.toString(), schema }, location }
}

const require = createRequire(import.meta.url)

/** Imports an optional peer dependency, or fails with the command that installs it. */
async function importPeer<T>(name: string, why: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(name)) {
      throw new CliFailure(`${name} is not installed in this project (${why})`, `npm install ${name}@7`)
    }
    throw err
  }
}

/** The package's own client for a provider (see the file comment), on the app's @prisma/client. */
async function clientClass(provider: SqlProvider): Promise<new (options: { adapter: unknown }) => unknown> {
  let version: string
  try {
    version = (require('@prisma/client/package.json') as { version: string }).version
  } catch {
    throw new CliFailure('@prisma/client is not installed in this project (the command runs on its runtime)', 'npm install @prisma/client@7')
  }
  if (!version.startsWith('7.')) throw new CliFailure(`@prisma/client ${version} is installed; the command needs Prisma 7`, 'npm install @prisma/client@7')
  const url = new URL(`../../generated/cli/${provider}/client.js`, import.meta.url)
  if (!existsSync(url))
    throw new CliFailure(`the command's Prisma client is missing (${url.pathname})`, 'reinstall prisma-llm-tenant (in its repository: npm run generate)')
  try {
    return ((await import(url.href)) as { PrismaClient: new (options: { adapter: unknown }) => unknown }).PrismaClient
  } catch (err) {
    throw new CliFailure(
      `the command's Prisma client does not load on @prisma/client ${version}: ${(err as Error).message}`,
      'install the @prisma/client version prisma-llm-tenant was built with or later (npm install @prisma/client@7)',
    )
  }
}

/** Opens the database DATABASE_URL names, with the package's client. */
async function connect(flags: DbFlags, io: Io): Promise<Connection> {
  const target = resolveTarget(flags, io)
  let adapter: unknown
  if (target.provider === 'sqlite') {
    if (!existsSync(target.sqlitePath as string)) {
      throw new CliFailure(
        `no SQLite database at ${target.sqlitePath}`,
        'check DATABASE_URL (a relative file: path is resolved from the current folder); create the tables with `npx prisma migrate deploy`',
      )
    }
    const { PrismaBetterSqlite3 } = await importPeer<typeof import('@prisma/adapter-better-sqlite3')>(
      '@prisma/adapter-better-sqlite3',
      'the SQLite driver adapter',
    )
    adapter = new PrismaBetterSqlite3({ url: `file:${target.sqlitePath}` })
  } else {
    const { PrismaPg } = await importPeer<typeof import('@prisma/adapter-pg')>('@prisma/adapter-pg', 'the PostgreSQL driver adapter')
    const pg = target.pg as { connectionString: string; schema?: string }
    adapter = new PrismaPg({ connectionString: pg.connectionString, max: 4 }, pg.schema ? { schema: pg.schema } : undefined)
  }
  const PrismaClient = await clientClass(target.provider)
  const client = assertClient(new PrismaClient({ adapter }))
  return {
    client,
    provider: target.provider,
    location: target.location,
    close: async () => {
      await (client as unknown as { $disconnect(): Promise<void> }).$disconnect()
    },
  }
}

/** Runs `fn` on a connection and always closes it. */
export async function withConnection<T>(flags: DbFlags, io: Io, fn: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await connect(flags, io)
  try {
    return await fn(connection)
  } finally {
    await connection.close().catch(() => undefined)
  }
}
