/**
 * PostgreSQL tuning helper: the hot path (admission and settle) on the adapter's own `pg` pool.
 *
 * Measured (bench/RESULTS.md, scenario 4): a tracked call through the Prisma client costs about
 * 1.2–1.3× what the same two statements cost through `pg` directly — Prisma's request pipeline,
 * argument serialisation and result decoding around each statement, ~120 µs a statement on these
 * machines. Wrapping the adapter factory lets the library send its hot-path statements straight to
 * the pool that `PrismaPg` created (same connections, same prepared-statement names as
 * `preparedStatementName`):
 *
 *   const adapter = pgFastPath(new PrismaPg({ connectionString }, { statementNameGenerator: preparedStatementName }))
 *   const prisma = new PrismaClient({ adapter })
 *
 * Why this is safe: each hot-path statement is one autocommitted statement (admission, settle, and
 * their batched forms), so running it on any pooled connection is what Prisma would do with it too;
 * interactive transactions keep their own connection. Values are bound the way the adapter binds
 * them (dates as UTC timestamps, big integers as text), so rows written either way are identical,
 * and the statements return no timestamp columns (pg's default parsers read them as local time).
 * When the pool is ending (after `$disconnect`) or the client was never connected, the statement
 * goes through Prisma as before. Without the wrapper, or with another adapter, nothing changes.
 */
import { preparedStatementName } from './pg.js'

/** The part of a `pg.Pool` the fast path uses. */
interface PgPool {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[] }>
  readonly ending?: boolean
  readonly ended?: boolean
}

interface ConnectedAdapter {
  underlyingDriver?: () => unknown
}

interface AdapterFactory {
  readonly provider: string
  connect(): Promise<unknown>
}

interface RowsRunner {
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>
}

const pools = new WeakMap<object, PgPool>()

function isPgPool(value: unknown): value is PgPool {
  const pool = value as (Partial<PgPool> & { connect?: unknown }) | null
  return !!pool && typeof pool.query === 'function' && typeof pool.connect === 'function'
}

/**
 * Wraps a `PrismaPg` adapter factory so the library's hot path runs on its pool directly (see the
 * file comment). Returns the same factory object, for `new PrismaClient({ adapter })`.
 */
export function pgFastPath<F extends AdapterFactory>(factory: F): F {
  if (factory?.provider !== 'postgres' || typeof factory.connect !== 'function') return factory
  const connect = factory.connect.bind(factory)
  factory.connect = async () => {
    const adapter = (await connect()) as ConnectedAdapter
    const pool = typeof adapter?.underlyingDriver === 'function' ? adapter.underlyingDriver() : undefined
    if (isPgPool(pool)) pools.set(factory, pool)
    return adapter
  }
  return factory
}

/** The live pool of a Prisma client whose adapter was wrapped by pgFastPath, if any. */
function directPgPool(client: unknown): PgPool | undefined {
  const adapter = (client as { _engineConfig?: { adapter?: unknown } })?._engineConfig?.adapter
  const pool = adapter && typeof adapter === 'object' ? pools.get(adapter) : undefined
  return pool && !pool.ending && !pool.ended ? pool : undefined
}

/** Binds like @prisma/adapter-pg's mapArg: a Date as a UTC `timestamp(3)` text, a bigint as text. */
function bindPg(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Date) return value.toISOString().slice(0, 23).replace('T', ' ')
  return value
}

/**
 * Runs one hot-path statement (PostgreSQL) and returns its rows: on the adapter's pool when the
 * client was wrapped by pgFastPath, through `$queryRawUnsafe` otherwise. Numbers may come back as
 * bigint, Decimal or text, and JSON as text or parsed: the readers accept each.
 */
export async function queryRowsPg(client: RowsRunner, sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]> {
  const pool = directPgPool(client)
  if (!pool) return (await client.$queryRawUnsafe(sql, ...values)) as Record<string, unknown>[]
  return (await pool.query({ name: preparedStatementName({ sql }), text: sql, values: values.map(bindPg) })).rows
}
