/**
 * SQLite tuning helper: the hot path (admission and settle) on the adapter's own connection.
 *
 * Measured (bench/RESULTS.md): through the Prisma client, one tracked call on SQLite costs about
 * five times what the same SQL costs through better-sqlite3 directly, because
 * @prisma/adapter-better-sqlite3 compiles every statement anew (our admission statement is a large
 * CTE) and each batch transaction crosses Prisma's request pipeline. Wrapping the adapter factory
 * lets the library run its two hot-path transactions (admission, settle) synchronously on the SAME
 * better-sqlite3 connection the Prisma client uses, with constant statement texts compiled once:
 *
 *   const adapter = sqliteFastPath(new PrismaBetterSqlite3({ url: 'file:./app.db' }))
 *   const prisma = new PrismaClient({ adapter })
 *
 * Why this is safe: better-sqlite3 is synchronous, so a batch run here cannot interleave with any
 * other statement on the connection; it runs only when the connection is not inside a transaction
 * (an interactive Prisma transaction awaiting between statements holds one open — then the batch
 * goes through Prisma and queues behind it, exactly as without this helper). Values are bound the
 * way the adapter binds them (dates in its configured timestamp format, booleans as 0/1), so rows
 * written either way are identical. Without the wrapper, or with another adapter, nothing changes.
 */

/** The part of a better-sqlite3 `Database` the fast path uses. */
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement
  readonly inTransaction: boolean
  readonly open: boolean
}

interface SqliteStatement {
  readonly reader: boolean
  all(params: unknown[]): unknown[]
  run(params: unknown[]): { changes: number }
}

interface ConnectedAdapter {
  client?: unknown
  adapterOptions?: { timestampFormat?: string }
}

interface AdapterFactory {
  readonly provider: string
  connect(): Promise<unknown>
}

/** One wrapped connection: its database handle, timestamp format and compiled statements. */
export class SqliteDirectConnection {
  private readonly statements = new Map<string, SqliteStatement>()

  constructor(
    private readonly db: SqliteDatabase,
    private readonly timestampFormat: string,
  ) {}

  /** True when a batch can run here now (connection open, no transaction in progress on it). */
  get available(): boolean {
    return this.db.open && !this.db.inTransaction
  }

  /**
   * Runs the statements as one `BEGIN IMMEDIATE … COMMIT` transaction, synchronously, skipping a
   * step whose `when` says no. Returns each statement's rows (as Prisma's $queryRawUnsafe would:
   * objects keyed by column name; [] for a skipped step).
   */
  runBatch(steps: ReadonlyArray<readonly [string, readonly unknown[], ((earlier: unknown[][]) => boolean)?]>): unknown[][] {
    return this.transaction((tx) => {
      const results: unknown[][] = []
      for (const [sql, params, when] of steps) results.push(when && !when(results) ? [] : tx.query(sql, params))
      return { commit: true, value: results }
    })
  }

  /**
   * Runs `work` inside `BEGIN IMMEDIATE`, synchronously: nothing else can run on the connection
   * until it returns, so `work` may decide in JS between statements — even from `changes`, which
   * another statement on the connection would otherwise reset. It returns whether to COMMIT or
   * ROLLBACK; a throw rolls back.
   */
  transaction<T>(work: (tx: SqliteDirectConnection) => { commit: boolean; value: T }): T {
    this.statement('BEGIN IMMEDIATE').run([])
    try {
      const { commit, value } = work(this)
      this.statement(commit ? 'COMMIT' : 'ROLLBACK').run([])
      return value
    } catch (err) {
      if (this.db.inTransaction) this.statement('ROLLBACK').run([])
      throw err
    }
  }

  /** One statement (autocommit unless inside `transaction`): its rows; [] for a writer without RETURNING. */
  query(sql: string, params: readonly unknown[]): unknown[] {
    const stmt = this.statement(sql)
    const bound = params.map((v) => this.bind(v))
    return stmt.reader ? stmt.all(bound) : (stmt.run(bound), [])
  }

  /** One writing statement without RETURNING: how many rows it changed. */
  changes(sql: string, params: readonly unknown[]): number {
    return this.statement(sql).run(params.map((v) => this.bind(v))).changes
  }

  private statement(sql: string): SqliteStatement {
    let stmt = this.statements.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql)
      // Our hot path has a fixed, small set of SQL texts (one per number of counter rows); the cap
      // only guards against misuse.
      if (this.statements.size >= 512) this.statements.clear()
      this.statements.set(sql, stmt)
    }
    return stmt
  }

  /** Binds like @prisma/adapter-better-sqlite3's mapArg, so both paths write identical values. */
  private bind(value: unknown): unknown {
    if (value instanceof Date) return this.timestampFormat === 'unixepoch-ms' ? value.getTime() : value.toISOString().replace('Z', '+00:00')
    if (typeof value === 'boolean') return value ? 1 : 0
    return value
  }
}

const connections = new WeakMap<object, SqliteDirectConnection>()

function isSqliteDatabase(value: unknown): value is SqliteDatabase {
  const db = value as Partial<SqliteDatabase> | null
  return !!db && typeof db.prepare === 'function' && typeof db.inTransaction === 'boolean' && typeof db.open === 'boolean'
}

/**
 * Wraps a `PrismaBetterSqlite3` adapter factory so the library's hot path runs on its connection
 * directly (see the file comment). Returns the same factory object, for `new PrismaClient({ adapter })`.
 */
export function sqliteFastPath<F extends AdapterFactory>(factory: F): F {
  if (factory?.provider !== 'sqlite' || typeof factory.connect !== 'function') return factory
  const connect = factory.connect.bind(factory)
  factory.connect = async () => {
    const adapter = (await connect()) as ConnectedAdapter
    if (isSqliteDatabase(adapter?.client)) {
      connections.set(factory, new SqliteDirectConnection(adapter.client, adapter.adapterOptions?.timestampFormat ?? 'iso8601'))
    }
    return adapter
  }
  return factory
}

/** The direct connection of a Prisma client whose adapter was wrapped by sqliteFastPath, if any. */
export function directSqliteConnection(client: unknown): SqliteDirectConnection | undefined {
  const adapter = (client as { _engineConfig?: { adapter?: unknown } })?._engineConfig?.adapter
  return adapter && typeof adapter === 'object' ? connections.get(adapter) : undefined
}
