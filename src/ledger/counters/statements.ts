/**
 * The counter statements. One parameterised UPDATE … FROM (SELECT … UNION ALL …) applies the deltas
 * of a call to all of its counter rows at once, with the hard-limit conditions in its WHERE clause:
 * a row whose condition fails is not updated, so "rows updated < rows expected" means refused. The
 * same SQL runs on PostgreSQL and SQLite (≥ 3.35: UPDATE FROM, RETURNING, ON CONFLICT).
 */
import { Params, type RawRunner, type SqlProvider } from '../../db/client.js'
import { directSqliteConnection } from '../../db/sqlite-direct.js'
import { bucketRange, keyId, type CounterKey } from './keys.js'
import { UNCOUNTED_STATUSES_SQL } from '../types.js'
import { toNanos as big } from '../../foundation/money.js'
import { roomNeeded, roomNeededSql } from './fits.js'

export interface Delta {
  key: CounterKey
  spentCost?: bigint
  spentTokens?: bigint
  spentExecutions?: bigint
  reservedCost?: bigint
  reservedTokens?: bigint
  reservedExecutions?: bigint
  /** Hard limits checked against spent + reserved + reserved delta; null = unchecked. */
  limitCost?: bigint | null
  limitTokens?: bigint | null
  limitExecutions?: bigint | null
}

export interface CounterRow {
  scope: string
  tenantId: string
  agentType: string
  period: string
  bucket: string
  spentCost: bigint
  spentTokens: bigint
  spentExecutions: bigint
  reservedCost: bigint
  reservedTokens: bigint
  reservedExecutions: bigint
  alerted: string
}

const COUNTER_COLUMNS = [
  'scope',
  'tenant_id',
  'agent_type',
  'period',
  'bucket',
  'spent_cost_nanos',
  'spent_tokens',
  'spent_executions',
  'reserved_cost_nanos',
  'reserved_tokens',
  'reserved_executions',
  'alerted',
]
/** SQLite's RETURNING takes the target's columns unqualified; PostgreSQL needs `c.` (locked has the same names). */
const returning = (provider: SqlProvider) => `RETURNING ${COUNTER_COLUMNS.map((c) => (provider === 'postgresql' ? `c."${c}"` : `"${c}"`)).join(', ')}`

export function toCounterRow(r: Record<string, unknown>): CounterRow {
  return {
    scope: String(r.scope),
    tenantId: String(r.tenant_id),
    agentType: String(r.agent_type),
    period: String(r.period),
    bucket: String(r.bucket),
    spentCost: big(r.spent_cost_nanos),
    spentTokens: big(r.spent_tokens),
    spentExecutions: big(r.spent_executions),
    reservedCost: big(r.reserved_cost_nanos),
    reservedTokens: big(r.reserved_tokens),
    reservedExecutions: big(r.reserved_executions),
    alerted: String(r.alerted ?? ''),
  }
}

/**
 * Creates missing counter rows, each initialised from the ledger (its bucket's settled rows, minus
 * running and refused rows), so a row created late — a new day, or a scope that just got a limit — starts right.
 * Existing rows are untouched. (Calls already in flight when a row appears settle into the ledger
 * but not into it; refreshCounters corrects that, and all processes should share one config.)
 */
export async function ensureCounterRows(db: RawRunner, provider: SqlProvider, keys: readonly CounterKey[], now: Date, timeZone: string): Promise<void> {
  if (keys.length === 0) return
  const existing = new Set((await readCounters(db, provider, keys)).map((r) => JSON.stringify([r.scope, r.tenantId, r.agentType, r.period, r.bucket])))
  const missing = keys.filter((k) => !existing.has(JSON.stringify(k)))
  // One statement for a call's missing rows (a new tenant's first call creates five): in chunks, for
  // SQLite's limit on compound SELECTs.
  for (let i = 0; i < missing.length; i += DELTAS_PER_STATEMENT)
    await insertCounterRows(db, provider, missing.slice(i, i + DELTAS_PER_STATEMENT), now, timeZone)
}

async function insertCounterRows(db: RawRunner, provider: SqlProvider, keys: readonly CounterKey[], now: Date, timeZone: string): Promise<void> {
  const p = new Params(provider)
  const selects = keys.map((key) => {
    const [scope, tenantId, agentType, period, bucket] = key
    // Typed: the branches of a UNION must agree (an untyped timestamp parameter would be text on PostgreSQL).
    const cols = `${key.map((part) => `CAST(${p.add(part)} AS TEXT)`).join(', ')}, ${provider === 'postgresql' ? `CAST(${p.add(now)} AS TIMESTAMP(3))` : p.add(now)}`
    let select = `SELECT ${cols}, CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT)`
    if (period !== 'inflight') {
      const { from, to } = bucketRange(period, bucket, timeZone)
      const filters = [`e."started_at" >= ${p.add(from)}`, `e."started_at" < ${p.add(to)}`]
      if (scope === 'tenant' || scope === 'tenant_agent') filters.push(`e."tenant_id" = ${p.add(tenantId)}`)
      if (scope === 'tenant_agent' || scope === 'global_agent') filters.push(`e."agent_type" = ${p.add(agentType)}`)
      if (scope === 'api_key') filters.push(`e."api_key_id" = ${p.add(tenantId)}`)
      select = `SELECT ${cols}, COALESCE(SUM(e."total_cost_nanos"), 0), COALESCE(SUM(e."total_tokens"), 0), COUNT(*) FROM "llm_executions" AS e
        WHERE ${filters.join(' AND ')} AND e."status" NOT IN (${UNCOUNTED_STATUSES_SQL})`
    }
    return select
  })
  // `WHERE 1 = 1`: SQLite reads `SELECT … ON CONFLICT` as a join's ON without a WHERE in between.
  await db.$executeRawUnsafe(
    `INSERT INTO "llm_budget_counters" ("scope", "tenant_id", "agent_type", "period", "bucket", "updated_at", "spent_cost_nanos", "spent_tokens", "spent_executions")
     SELECT * FROM (${selects.join(' UNION ALL ')}) AS fresh WHERE 1 = 1 ON CONFLICT DO NOTHING`,
    ...p.values,
  )
}

const creatingRows = new WeakMap<object, Map<string, Promise<void>>>()

/**
 * ensureCounterRows outside a transaction, shared by concurrent callers asking for the same keys:
 * the first calls of a new tenant (or of everyone at midnight) all find their rows missing at
 * once, and each would otherwise read the counters and insert every row itself — a burst of
 * identical statements queued ahead of other tenants' work.
 */
export function ensureCounterRowsShared(db: RawRunner, provider: SqlProvider, keys: readonly CounterKey[], now: Date, timeZone: string): Promise<void> {
  let pending = creatingRows.get(db)
  if (!pending) creatingRows.set(db, (pending = new Map()))
  const id = keys.map(keyId).join(',')
  const running = pending.get(id)
  if (running) return running
  const created = ensureCounterRows(db, provider, keys, now, timeZone).finally(() => pending.delete(id))
  pending.set(id, created)
  return created
}

/** `SELECT … UNION ALL …` of the deltas: the `v` relation joined to the counter rows. */
export function deltaSelects(p: Params, deltas: readonly Delta[]): string[] {
  const text = (v: string) => `CAST(${p.add(v)} AS TEXT)`
  const int = (v: bigint | null | undefined) => (v === null || v === undefined ? 'CAST(NULL AS BIGINT)' : `CAST(${p.add(v)} AS BIGINT)`)
  // No deltas (a call without a tenant or global budget, decided on its rate windows alone): the
  // same columns, no rows.
  if (deltas.length === 0) {
    const none = (c: string, type: string) => `CAST(NULL AS ${type}) AS ${c}`
    return [
      `SELECT ${['k_scope', 'k_tenant', 'k_agent', 'k_period', 'k_bucket'].map((c) => none(c, 'TEXT')).join(', ')},
      ${['d_sc', 'd_st', 'd_se', 'd_rc', 'd_rt', 'd_re', 'l_c', 'l_t', 'l_e'].map((c) => none(c, 'BIGINT')).join(', ')} WHERE 1 = 0`,
    ]
  }
  return deltas.map((d) => {
    const [scope, tenantId, agentType, period, bucket] = d.key
    return `SELECT ${text(scope)} AS k_scope, ${text(tenantId)} AS k_tenant, ${text(agentType)} AS k_agent, ${text(period)} AS k_period,
      ${text(bucket)} AS k_bucket, ${int(d.spentCost ?? 0n)} AS d_sc, ${int(d.spentTokens ?? 0n)} AS d_st, ${int(d.spentExecutions ?? 0n)} AS d_se,
      ${int(d.reservedCost ?? 0n)} AS d_rc, ${int(d.reservedTokens ?? 0n)} AS d_rt, ${int(d.reservedExecutions ?? 0n)} AS d_re,
      ${int(d.limitCost)} AS l_c, ${int(d.limitTokens)} AS l_t, ${int(d.limitExecutions)} AS l_e`
  })
}

/** Key equality between a counter-table alias and the `v` relation. */
export const matchesV = (t: string) =>
  `${t}."scope" = v.k_scope AND ${t}."tenant_id" = v.k_tenant AND ${t}."agent_type" = v.k_agent AND ${t}."period" = v.k_period AND ${t}."bucket" = v.k_bucket`

/** The hard-limit condition of a counter row (alias `t`) against its delta (the rule of fits.ts). */
export const fitsV = (t: string) => `(v.l_c IS NULL OR ${t}."spent_cost_nanos" + ${t}."reserved_cost_nanos" + ${roomNeededSql('v.d_rc')} <= v.l_c)
      AND (v.l_t IS NULL OR ${t}."spent_tokens" + ${t}."reserved_tokens" + ${roomNeededSql('v.d_rt')} <= v.l_t)
      AND (v.l_e IS NULL OR ${t}."spent_executions" + ${t}."reserved_executions" + ${roomNeededSql('v.d_re')} <= v.l_e)`

/** SET clause applying the deltas of `v`. */
export const applyV = (updatedAt: string) => `"spent_cost_nanos" = c."spent_cost_nanos" + v.d_sc,
      "spent_tokens" = c."spent_tokens" + v.d_st,
      "spent_executions" = c."spent_executions" + v.d_se,
      "reserved_cost_nanos" = c."reserved_cost_nanos" + v.d_rc,
      "reserved_tokens" = c."reserved_tokens" + v.d_rt,
      "reserved_executions" = c."reserved_executions" + v.d_re,
      "updated_at" = ${updatedAt}`

/**
 * PostgreSQL: locks the delta rows one by one in key order (v is built sorted), each by its primary
 * key (a LATERAL index lookup, not a scan of the whole counter table), so overlapping transactions
 * queue instead of deadlocking; the locked values are the latest committed ones.
 */
export const LOCKED_CTE = `locked AS (SELECT l.*, v.k_scope AS lk_scope, v.k_tenant AS lk_tenant, v.k_agent AS lk_agent,
             v.k_period AS lk_period, v.k_bucket AS lk_bucket FROM v CROSS JOIN LATERAL (
               SELECT x.* FROM "llm_budget_counters" AS x
               WHERE x."scope" = v.k_scope AND x."tenant_id" = v.k_tenant AND x."agent_type" = v.k_agent AND x."period" = v.k_period AND x."bucket" = v.k_bucket
               FOR UPDATE) AS l)`
/**
 * How the UPDATE finds its rows: by key, never by the locked ctid — a row version committed after
 * this statement's snapshot is invisible to a TID scan (the update would silently miss it), while
 * a key match reads the visible version and follows its update chain to the one we locked.
 */
export const LOCKED_MATCH = `${matchesV('c')} AND EXISTS (SELECT 1 FROM locked)`

/** At most this many counter rows per statement (a UNION ALL or OR term each; see applyDeltas, readCounters). */
const DELTAS_PER_STATEMENT = 200

/**
 * Applies deltas to their rows; rows whose hard-limit condition fails are left unchanged.
 * Returns the updated rows (after the update).
 */
export async function applyDeltas(db: RawRunner, provider: SqlProvider, deltas: readonly Delta[], now: Date): Promise<CounterRow[]> {
  // SQLite refuses a compound SELECT of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT): recording
  // a month of rows for many tenants, or expiring many holds, touches more rows than that. Chunks
  // run in order, so PostgreSQL still takes the row locks in key order.
  if (deltas.length > DELTAS_PER_STATEMENT) {
    const rows: CounterRow[] = []
    for (let i = 0; i < deltas.length; i += DELTAS_PER_STATEMENT)
      rows.push(...(await applyDeltas(db, provider, deltas.slice(i, i + DELTAS_PER_STATEMENT), now)))
    return rows
  }
  if (deltas.length === 0) return []
  const p = new Params(provider)
  const selects = deltaSelects(p, deltas)
  // SQLite binds `?` in textual order: the CTE's parameters come first, then the SET clause's.
  const updatedAt = p.add(now)
  const pg = provider === 'postgresql'
  const sql = `WITH v AS (${selects.join(' UNION ALL ')})${pg ? `, ${LOCKED_CTE}` : ''}
    UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)}
    FROM v
    WHERE ${pg ? LOCKED_MATCH : matchesV('c')} AND ${fitsV('c')}
    ${returning(provider)}`
  const rows = (await db.$queryRawUnsafe(sql, ...p.values)) as Record<string, unknown>[]
  return rows.map(toCounterRow)
}

/** Reads counter rows by key (missing rows are absent from the result). */
export async function readCounters(db: RawRunner, provider: SqlProvider, keys: readonly CounterKey[]): Promise<CounterRow[]> {
  const rows: CounterRow[] = []
  // An OR of more than 1,000 terms is "Expression tree is too large" on SQLite (and 5 values a key
  // would pass its and PostgreSQL's parameter limits further on): recording rows for thousands of
  // new tenants reads that many keys.
  for (let i = 0; i < keys.length; i += DELTAS_PER_STATEMENT) {
    const [sql, params] = readCountersStatement(provider, keys.slice(i, i + DELTAS_PER_STATEMENT))
    for (const r of (await db.$queryRawUnsafe(sql, ...params)) as Record<string, unknown>[]) rows.push(toCounterRow(r))
  }
  return rows
}

/** The SELECT of counter rows by key. */
export function readCountersStatement(provider: SqlProvider, keys: readonly CounterKey[]): [string, unknown[]] {
  const p = new Params(provider)
  const conds = keys.map(
    (k) =>
      `("scope" = ${p.add(k[0])} AND "tenant_id" = ${p.add(k[1])} AND "agent_type" = ${p.add(k[2])} AND "period" = ${p.add(k[3])} AND "bucket" = ${p.add(k[4])})`,
  )
  return [`SELECT * FROM "llm_budget_counters" WHERE ${conds.join(' OR ')}`, p.values]
}

/**
 * Runs statements as one transaction, each step run only if its `when` (given the earlier steps'
 * rows) says so — the decision is made in JS from RETURNING rows, never from SQL's `changes()`:
 * on the Prisma path other statements on the same connection can run between a transaction's
 * statements and would reset `changes()` (test/reliability/faults.sqlite-interleaving.test.ts).
 * Directly on the connection when the client's adapter was wrapped by sqliteFastPath (synchronous:
 * nothing can interleave), else through Prisma: a batch when no step is conditional, an
 * interactive transaction when one is.
 */
export async function runBatch(client: BatchClient, steps: ReadonlyArray<BatchStep>): Promise<unknown[][]> {
  const direct = directSqliteConnection(client)
  if (direct?.available) return direct.runBatch(steps)
  if (steps.every((s) => !s[2])) {
    return (await client.$transaction(steps.map(([sql, params]) => client.$queryRawUnsafe(sql, ...params)))) as unknown[][]
  }
  return (await client.$transaction(
    async (tx: RawRunner) => {
      const results: unknown[][] = []
      for (const [sql, params, when] of steps) results.push(when && !when(results) ? [] : ((await tx.$queryRawUnsafe(sql, ...params)) as unknown[]))
      return results
    },
    // Transactions queue on SQLite's one connection: wait as long as a busy writer may take.
    { maxWait: 10_000, timeout: 20_000 },
  )) as unknown[][]
}

/** A statement, its parameters and, optionally, whether to run it given the earlier steps' rows. */
export type BatchStep = readonly [sql: string, params: readonly unknown[], when?: (earlier: unknown[][]) => boolean]

interface BatchClient extends RawRunner {
  $transaction(arg: unknown, options?: { maxWait?: number; timeout?: number }): Promise<unknown>
}

/**
 * SQLite: all-or-nothing counter update in ONE statement (SQLite runs one writer at a time and
 * evaluates the uncorrelated COUNT once, before any row changes): every row is updated only if
 * every row fits.
 */
export function allOrNothingUpdateSqlite(
  deltas: readonly Delta[],
  now: Date,
  extra?: readonly [condition: string, params: readonly unknown[]],
): [string, unknown[]] {
  const p = new Params('sqlite')
  const selects = deltaSelects(p, deltas)
  // Textual order for SQLite's positional `?`: CTE, SET, then WHERE (the extra condition's own values, then n).
  const updatedAt = p.add(now)
  const values = [...p.values, ...(extra?.[1] ?? [])]
  const n = deltas.length
  return [
    `WITH v AS (${selects.join(' UNION ALL ')})
     UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)} FROM v
     WHERE ${matchesV('c')}${extra ? ` AND ${extra[0]}` : ''}
       AND (SELECT COUNT(*) FROM "llm_budget_counters" AS l JOIN v ON ${matchesV('l')} WHERE ${fitsV('l')}) = CAST(? AS INTEGER)
     ${returning('sqlite')}`,
    [...values, n],
  ]
}

/**
 * SQLite, on sqliteFastPath's connection: ONE counter row by its primary key, its delta applied
 * only if the row fits the delta's hard limits; 0 rows changed = it did not fit, or does not exist.
 * A constant text, so the connection compiles it once — where the UNION ALL form is a new ~3 kB
 * text per call that SQLite plans each time. No RETURNING: it costs 2.6 of the 4.6 µs such an
 * update takes (a micro-benchmark on these machines); the caller reads back only the rows it needs.
 */
export const UPDATE_COUNTER_ROW_SQLITE = `UPDATE "llm_budget_counters" SET "spent_cost_nanos" = "spent_cost_nanos" + ?,
    "spent_tokens" = "spent_tokens" + ?, "spent_executions" = "spent_executions" + ?, "reserved_cost_nanos" = "reserved_cost_nanos" + ?,
    "reserved_tokens" = "reserved_tokens" + ?, "reserved_executions" = "reserved_executions" + ?, "updated_at" = ?
  WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "period" = ? AND "bucket" = ?
    AND (? IS NULL OR "spent_cost_nanos" + "reserved_cost_nanos" + ? <= ?)
    AND (? IS NULL OR "spent_tokens" + "reserved_tokens" + ? <= ?)
    AND (? IS NULL OR "spent_executions" + "reserved_executions" + ? <= ?)`

/** SQLite: one counter row by its primary key (per key: 4 such reads cost ~5 µs, one OR of 4 keys 13 µs). */
export const SELECT_COUNTER_ROW_SQLITE = `SELECT * FROM "llm_budget_counters" WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "period" = ? AND "bucket" = ?`

/** The values of UPDATE_COUNTER_ROW_SQLITE for one delta (SQLite binds `?` in textual order). */
export function counterRowValues(d: Delta, now: Date): unknown[] {
  const rc = d.reservedCost ?? 0n
  const rt = d.reservedTokens ?? 0n
  const re = d.reservedExecutions ?? 0n
  const lc = d.limitCost ?? null
  const lt = d.limitTokens ?? null
  const le = d.limitExecutions ?? null
  // The checks bind the room the rule requires (at least one unit: fits.ts), the SET the delta itself.
  return [
    d.spentCost ?? 0n,
    d.spentTokens ?? 0n,
    d.spentExecutions ?? 0n,
    rc,
    rt,
    re,
    now,
    ...d.key,
    lc,
    roomNeeded(rc),
    lc,
    lt,
    roomNeeded(rt),
    lt,
    le,
    roomNeeded(re),
    le,
  ]
}

/** Marks a soft alert as sent for (key, limitType); true only for the first caller (dedup). */
export async function claimAlert(db: RawRunner, provider: SqlProvider, key: CounterKey, limitType: string): Promise<boolean> {
  const p = new Params(provider)
  const marker = `,${limitType},`
  const sql = `UPDATE "llm_budget_counters" SET "alerted" = "alerted" || ${p.add(marker)}
    WHERE "scope" = ${p.add(key[0])} AND "tenant_id" = ${p.add(key[1])} AND "agent_type" = ${p.add(key[2])}
      AND "period" = ${p.add(key[3])} AND "bucket" = ${p.add(key[4])} AND "alerted" NOT LIKE ${p.add(`%${marker}%`)}`
  return (await db.$executeRawUnsafe(sql, ...p.values)) === 1
}
