/**
 * The shipped schema: the Prisma fragment an app drops into its schema folder, and the matching DDL
 * per provider (for when `prisma migrate` is not available, and for tests).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { detectProvider, type SqlProvider } from './client.js'

const packageRoot = new URL('../../', import.meta.url)

/** Absolute path of `llm-tenant.prisma`, to copy into an app's `prisma/schema/` folder. */
export const schemaFragmentPath = fileURLToPath(new URL('prisma/schema/llm-tenant.prisma', packageRoot))

/** Absolute path of the DDL script for a provider. */
export function ddlPath(provider: SqlProvider): string {
  return fileURLToPath(new URL(`prisma/sql/${provider}.sql`, packageRoot))
}

/** The DDL for a provider, split into single statements (comments dropped). */
export function ddlStatements(provider: SqlProvider): string[] {
  const withoutComments = readFileSync(ddlPath(provider), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean)
}

interface RawExecutor {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>
}

/**
 * Creates the library's tables and indexes through the given Prisma client (idempotent). Handy for
 * tests, examples and apps that manage DDL themselves; apps using `prisma migrate` don't need it.
 */
export async function applyLlmTenantSchema(client: RawExecutor, provider: SqlProvider = detectProvider(client)): Promise<void> {
  // An older SQLite database first gets the columns added since (its new indexes name them).
  if (provider === 'sqlite') await addMissingColumnsSqlite(client)
  for (const statement of ddlStatements(provider)) {
    await client.$executeRawUnsafe(statement)
  }
  if (provider === 'sqlite') await addMissingColumnsSqlite(client)
}

/**
 * Columns added to existing tables after 0.1.0. PostgreSQL's DDL adds them itself (`ADD COLUMN IF
 * NOT EXISTS`); SQLite has no such clause, so a database created by an earlier version gets them here.
 */
const ADDED_COLUMNS: ReadonlyArray<readonly [table: string, column: string, type: string]> = [
  ['llm_tenants', 'rate_limits', 'JSONB'],
  ['llm_tenants', 'agent_rate_limits', 'JSONB'],
  ['llm_executions', 'api_key_id', 'TEXT'],
  ['llm_plans', 'session_limits', 'JSONB'],
]

async function addMissingColumnsSqlite(client: RawExecutor): Promise<void> {
  const query = (client as { $queryRawUnsafe?: (sql: string) => PromiseLike<unknown> }).$queryRawUnsafe
  if (typeof query !== 'function') return
  for (const [table, column, type] of ADDED_COLUMNS) {
    const columns = (await query.call(client, `PRAGMA table_info("${table}")`)) as Array<{ name: string }>
    if (columns.length > 0 && !columns.some((c) => c.name === column)) await client.$executeRawUnsafe(`ALTER TABLE "${table}" ADD COLUMN "${column}" ${type}`)
  }
}
