/**
 * Bulk ledger writes as multi-row INSERT statements. Prisma's `createMany` spends ~0.5 ms per row
 * building the query (measured: 10k rows in 4.9 s on SQLite); one parameterised INSERT per 500
 * rows, all in one transaction, keeps "all or nothing" and is an order of magnitude faster.
 */
import { placeholder, type SqlProvider } from '../db/client.js'
import type { ExecutionRow } from './record.js'
import { directSqliteConnection } from '../db/sqlite-direct.js'
import { queryRowsPg } from '../db/pg-direct.js'
import { Coalescer, coalescerFor } from '../foundation/coalesce.js'
import type { RawRunner } from '../db/client.js'

/** Column order of the INSERT; each entry maps a row to its bound value. */
const COLUMNS: Array<[column: string, value: (row: ExecutionRow) => unknown]> = [
  ['id', (r) => r.id],
  ['tenant_id', (r) => r.tenantId],
  ['agent_type', (r) => r.agentType],
  ['provider', (r) => r.provider],
  ['model', (r) => r.model],
  ['status', (r) => r.status],
  ['input_tokens', (r) => r.inputTokens],
  ['output_tokens', (r) => r.outputTokens],
  ['cached_input_tokens', (r) => r.cachedInputTokens],
  ['total_tokens', (r) => r.totalTokens],
  ['input_cost_nanos', (r) => r.inputCostNanos],
  ['output_cost_nanos', (r) => r.outputCostNanos],
  ['total_cost_nanos', (r) => r.totalCostNanos],
  ['duration_ms', (r) => r.durationMs],
  ['started_at', (r) => r.startedAt],
  ['completed_at', (r) => r.completedAt],
  ['error_class', (r) => r.errorClass],
  ['error_message', (r) => r.errorMessage],
  ['trace_id', (r) => r.traceId],
  ['parent_id', (r) => r.parentId],
  ['api_key_id', (r) => r.apiKeyId],
  ['metadata', (r) => (r.metadata === null ? null : JSON.stringify(r.metadata))],
  ['created_at', () => null],
]
const ROWS_PER_STATEMENT = 500

/** PostgreSQL column types of the ledger, for reading rows out of a JSON array (jsonb_to_recordset). */
const PG_TYPES: Record<string, string> = {
  input_tokens: 'INTEGER',
  output_tokens: 'INTEGER',
  cached_input_tokens: 'INTEGER',
  total_tokens: 'INTEGER',
  duration_ms: 'INTEGER',
  input_cost_nanos: 'BIGINT',
  output_cost_nanos: 'BIGINT',
  total_cost_nanos: 'BIGINT',
  started_at: 'TIMESTAMP(3)',
  completed_at: 'TIMESTAMP(3)',
  created_at: 'TIMESTAMP(3)',
  metadata: 'JSONB',
}
/** `"id" TEXT, "tenant_id" TEXT, …`: the record definition of execution rows in JSON. */
export const EXECUTION_RECORD_TYPES = COLUMNS.map(([c]) => `"${c}" ${PG_TYPES[c] ?? 'TEXT'}`).join(', ')

/**
 * One ledger row as a JSON object for EXECUTION_RECORD_TYPES: exact integers as strings (JSON
 * numbers would round nano-dollars beyond 2^53), instants as UTC timestamp literals (how the driver
 * writes a Date into a `timestamp without time zone`), metadata as JSON itself.
 */
export function executionJsonRecord(row: ExecutionRow, createdAt: Date): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [column, value] of COLUMNS) {
    const v = column === 'created_at' ? createdAt : column === 'metadata' ? row.metadata : value(row)
    out[column] = v instanceof Date ? utcTimestamp(v) : typeof v === 'bigint' ? v.toString() : v
  }
  return out
}

/** A `timestamp(3)` literal in UTC. */
export const utcTimestamp = (d: Date): string => d.toISOString().slice(0, 23)

/** Column list of the ledger INSERT. */
export const EXECUTION_COLUMN_LIST = COLUMNS.map(([c]) => `"${c}"`).join(', ')

/** One row's values in column order (created_at = `createdAt`). */
export function executionValues(row: ExecutionRow, createdAt: Date): unknown[] {
  return COLUMNS.map(([column, value]) => (column === 'created_at' ? createdAt : value(row)))
}

/** SQLite's INSERT of one ledger row, its values from executionValues (a constant text: compiled once). */
export const INSERT_EXECUTION_SQLITE = `INSERT INTO "llm_executions" (${EXECUTION_COLUMN_LIST}) VALUES (${COLUMNS.map(() => '?').join(', ')})`

/** One row's value list, binding through `add` (which returns the placeholder). */
export function executionValueList(provider: SqlProvider, row: ExecutionRow, createdAt: Date, add: (v: unknown) => string): string {
  const values = executionValues(row, createdAt)
  return COLUMNS.map(([column], i) => {
    const slot = add(values[i])
    return provider === 'postgresql' && column === 'metadata' ? `CAST(${slot} AS jsonb)` : slot
  }).join(', ')
}

function insertStatement(provider: SqlProvider, rows: ExecutionRow[], createdAt: Date): [string, unknown[]] {
  const params: unknown[] = []
  const tuples = rows.map((row) => `(${executionValueList(provider, row, createdAt, (v) => (params.push(v), placeholder(provider, params.length)))})`)
  return [`INSERT INTO "llm_executions" (${EXECUTION_COLUMN_LIST}) VALUES ${tuples.join(', ')}`, params]
}

/** The INSERT statements for `rows`, at most ROWS_PER_STATEMENT rows each. */
function insertStatements(provider: SqlProvider, rows: ExecutionRow[], createdAt: Date): Array<[string, unknown[]]> {
  const statements: Array<[string, unknown[]]> = []
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    statements.push(insertStatement(provider, rows.slice(i, i + ROWS_PER_STATEMENT), createdAt))
  }
  return statements
}

/**
 * A standalone insert of a few rows (an agent's refusal row), on the fast path's connection when
 * the client has one (sqliteFastPath / pgFastPath), through Prisma otherwise. A tenant refused in a
 * loop writes one of these per refusal: through Prisma on SQLite each costs ~1 ms of the one
 * JavaScript thread, which is what slowed other tenants' calls while a runaway was only being
 * refused (p99 47–64 ms against 28 ms without the rows; test/reliability/runaway.test.ts).
 */
async function insertExecutionRowsStandalone(client: RawRunner, provider: SqlProvider, rows: ExecutionRow[], createdAt: Date): Promise<number> {
  const statements = insertStatements(provider, rows, createdAt)
  const direct = provider === 'sqlite' ? directSqliteConnection(client) : undefined
  if (direct?.available) {
    direct.runBatch(statements)
    return rows.length
  }
  if (provider === 'postgresql' && statements.length === 1) {
    await queryRowsPg(client, statements[0][0], statements[0][1])
    return rows.length
  }
  return insertExecutionRows(client, provider, rows, createdAt)
}

const refusalRowWriters = new WeakMap<object, Coalescer<ExecutionRow, void>>()

/**
 * Records an agent's refusal row. At most one such statement per client is in flight; rows of
 * refusals made meanwhile wait and go together in the next one. A tenant refused in a loop (64
 * loops at its limit: ~250 refusals/s with the refusal backoff) would otherwise take a pooled
 * connection and a commit per refusal, queued with every other tenant's admissions and settles.
 * On sqliteFastPath the insert is synchronous, so nothing waits and nothing is batched.
 */
export function insertRefusalRow(client: RawRunner, provider: SqlProvider, row: ExecutionRow): Promise<void> {
  const writer = coalescerFor(
    refusalRowWriters,
    client,
    () =>
      new Coalescer<ExecutionRow, void>(
        async (one) => void (await insertExecutionRowsStandalone(client, provider, [one], one.startedAt)),
        async (rows) => {
          await insertExecutionRowsStandalone(client, provider, rows, rows[rows.length - 1].startedAt)
          return rows.map(() => undefined)
        },
        1,
        ROWS_PER_STATEMENT,
      ),
  )
  return writer.run(row)
}

/** Inserts rows on a client or inside a caller's transaction (no transaction of its own). */
export async function insertExecutionRows(db: RawRunner, provider: SqlProvider, rows: ExecutionRow[], createdAt: Date): Promise<number> {
  let count = 0
  for (const [sql, params] of insertStatements(provider, rows, createdAt)) count += await db.$executeRawUnsafe(sql, ...params)
  return count
}
