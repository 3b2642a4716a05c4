/**
 * PostgreSQL row-level security (docs/row-level-security.md): the shipped policies
 * (`prisma/sql/postgresql-rls.sql`, applied by `applyRowLevelSecurity`) and `withTenantDb`, the one
 * way to run queries as a tenant — an interactive transaction whose first statement sets the
 * transaction-local `app.tenant_id` the policies read. Transaction-local (`set_config(…, true)`):
 * it ends with the transaction, so a pooled connection (PgBouncer in transaction mode included)
 * never carries one tenant's setting into another request.
 *
 * There is deliberately no per-query wrapper (an `$extends` that puts every query in its own
 * transaction with the setting, like Prisma's RLS example): that turns each query into a
 * transaction of its own, so a caller's `$transaction([…])` or interactive transaction stops being
 * one (prisma#20678) — its writes commit separately, and a failure no longer rolls back the rest.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'
import { assertIdentifier } from '../foundation/validation.js'
import { detectProvider, type RawRunner } from './client.js'

/** The setting the policies read: the tenant whose rows a transaction may see and write. */
export const TENANT_SETTING = 'app.tenant_id'
/** The role whose members the policies let through (the library's own cross-tenant work). */
export const DEFAULT_SERVICE_ROLE = 'llm_tenant_service'

const rlsFile = new URL('../../prisma/sql/postgresql-rls.sql', import.meta.url)

/** Absolute path of the shipped row-level security script (PostgreSQL). */
export function rlsPath(): string {
  return fileURLToPath(rlsFile)
}

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * The row-level security script as single statements (comments dropped), for the service role
 * `serviceRole` (default `llm_tenant_service`: a lowercase SQL identifier).
 */
export function rlsStatements(options: { serviceRole?: string } = {}): string[] {
  const role = options.serviceRole ?? DEFAULT_SERVICE_ROLE
  if (typeof role !== 'string' || !ROLE.test(role)) {
    throw new InvalidArgumentError('options.serviceRole', 'a lowercase SQL role name: a-z, 0-9 and _, starting with a letter or _ (at most 63)', role)
  }
  const text = readFileSync(rlsFile, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .replaceAll(DEFAULT_SERVICE_ROLE, role)
  return text
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean)
}

/** The tables the script puts under row-level security. */
export function rlsTables(): string[] {
  return [...readFileSync(rlsFile, 'utf8').matchAll(/^ALTER TABLE "(\w+)" ENABLE ROW LEVEL SECURITY;$/gm)].map((m) => m[1])
}

interface TransactionClient extends RawRunner {
  $transaction(fn: (tx: never) => Promise<unknown>, options?: { maxWait?: number; timeout?: number }): Promise<unknown>
}

function postgresOnly(client: unknown, what: string): void {
  if (detectProvider(client) !== 'postgresql') {
    throw new InvalidArgumentError('client', `a PostgreSQL client (${what}: SQLite has no row-level security — see docs/row-level-security.md)`, 'sqlite')
  }
}

/**
 * Applies the row-level security script through `client` in one transaction (no moment with a
 * table half-protected). Run it as the tables' owner after `applyLlmTenantSchema`. PostgreSQL only.
 */
export async function applyRowLevelSecurity(client: unknown, options: { serviceRole?: string } = {}): Promise<void> {
  postgresOnly(client, 'applyRowLevelSecurity')
  const statements = rlsStatements(options)
  const c = client as TransactionClient
  await c.$transaction(async (tx: RawRunner) => {
    for (const statement of statements) await tx.$executeRawUnsafe(statement)
  })
}

/** `withTenantDb` inside a transaction already scoped to another tenant. */
export class TenantScopeMismatchError extends LlmTenantError {
  constructor(
    readonly tenantId: string,
    readonly scopedTo: string,
  ) {
    super('TENANT_SCOPE_MISMATCH', `This transaction is scoped to another tenant than "${tenantId}": one transaction serves one tenant`)
  }
}

/** A UTF-16 surrogate half without its other half. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** A tenant id as a database value: a non-empty string that is well-formed UTF-16 (no lone surrogate) without NUL. */
export function assertTenantValue(value: unknown, field = 'tenant'): string {
  const id = assertIdentifier(value, field)
  // A lone surrogate becomes U+FFFD on its way to the database (two ids, one row); NUL cannot be stored.
  if (LONE_SURROGATE.test(id) || id.includes('\u0000')) {
    throw new InvalidArgumentError(field, 'a string of well-formed Unicode (no lone surrogate halves, no NUL)', id)
  }
  return id
}

/** The transaction client type of a Prisma client (what its interactive `$transaction` passes), or the client itself. */
export type TenantTx<C> = C extends { $transaction(fn: (tx: infer T) => never, options?: never): unknown } ? T : C

/**
 * Scopes the transaction `tx` to `tenantId` (PostgreSQL) in one statement, unless it is scoped to
 * another tenant already (a nested `withTenantDb`: Prisma nests transactions as savepoints of the
 * same one, so a second set_config would silently rescope the caller's whole transaction).
 */
async function scope(tx: RawRunner, tenantId: string): Promise<void> {
  const scoped = (await tx.$queryRawUnsafe(
    `SELECT set_config('${TENANT_SETTING}', $1, true) AS "t" WHERE COALESCE(current_setting('${TENANT_SETTING}', true), '') IN ('', $1)`,
    tenantId,
  )) as unknown[]
  if (scoped.length === 1) return
  const rows = (await tx.$queryRawUnsafe(`SELECT current_setting('${TENANT_SETTING}', true) AS "t"`)) as Array<{ t: string }>
  throw new TenantScopeMismatchError(tenantId, rows[0]?.t ?? '')
}

/**
 * Runs `fn` in one interactive transaction as `tenantId`: on PostgreSQL its first statement is
 * `set_config('app.tenant_id', tenantId, true)`, so under the shipped policies every query in `fn`
 * sees and writes only that tenant's rows. Given a transaction (a `tx`: Prisma runs a nested
 * transaction inside the caller's), `fn` runs in it — scoped to `tenantId` if it was not scoped yet,
 * `TenantScopeMismatchError` if it is scoped to another tenant. On SQLite (no row-level security)
 * it is a plain transaction.
 */
export async function withTenantDb<C, R>(
  client: C,
  tenantId: string,
  fn: (tx: TenantTx<C>) => Promise<R>,
  options: { maxWait?: number; timeout?: number } = {},
): Promise<R> {
  const tenant = assertTenantValue(tenantId, 'tenantId')
  if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'a function (tx) => Promise', fn)
  const provider = detectProvider(client)
  const c = client as unknown as Partial<TransactionClient> & RawRunner
  if (typeof c.$transaction !== 'function') {
    if (provider === 'postgresql') await scope(c, tenant)
    return fn(client as TenantTx<C>)
  }
  return (await c.$transaction(async (tx: RawRunner) => {
    if (provider === 'postgresql') await scope(tx, tenant)
    return fn(tx as TenantTx<C>)
  }, options)) as R
}
