/**
 * The rate-limit statements: GCRA (gcra.ts) on `llm_rate_limits` rows, written so that admission
 * can decide a call's rate windows in the same statement (PostgreSQL) or transaction (SQLite) as
 * its budgets — every window and budget passes, or nothing is taken.
 *
 * PostgreSQL reads the clock of the database (`clock_timestamp()`), so app servers whose clocks
 * disagree share one limit; SQLite (one machine) uses the caller's clock.
 */
import { Params, placeholder, type RawRunner, type SqlProvider } from '../db/client.js'
import { toNanos } from '../foundation/money.js'
import { paceOf } from './gcra.js'
import { compareRateKeys, type RateCheck, type RateKey } from './keys.js'

/** One window a call is decided on: its key, and the ns of debt it adds (`cost × interval`). */
export interface RateDelta {
  check: RateCheck
  key: RateKey
  /** Units of cost: 1 request, or the call's estimated tokens. */
  cost: bigint
  /** ns per unit of cost (GCRA's emission interval). */
  interval: bigint
  /** cost × interval, ns. */
  increment: bigint
  /** limit × interval, ns. */
  capacity: bigint
}

/** The windows of a call, in key order (the one lock order); `never` = a window the call can never fit (0, or cost above the limit). */
export function rateDeltas(checks: readonly RateCheck[], estimateTokens: bigint): { deltas: RateDelta[]; never: RateCheck | null } {
  const deltas: RateDelta[] = []
  for (const check of checks) {
    if (check.enforcement !== 'hard') continue
    const cost = check.measure === 'requests' ? 1n : estimateTokens
    const pace = paceOf(check.limit, check.window)
    if (!pace || cost > check.limit) return { deltas: [], never: check }
    deltas.push({ check, key: check.key, cost, interval: pace.interval, increment: cost * pace.interval, capacity: pace.capacity })
  }
  return { deltas: deltas.sort((a, b) => compareRateKeys(a.key, b.key)), never: null }
}

export interface RateRow {
  key: RateKey
  tatNs: bigint
  /** The limit the TAT was computed under (0 = a new row). */
  limitValue: bigint
}

export function toRateRow(r: Record<string, unknown>): RateRow {
  return {
    key: [String(r.scope), String(r.tenant_id), String(r.agent_type), String(r.measure), String(r.window)] as unknown as RateKey,
    tatNs: toNanos(r.tat_ns),
    limitValue: toNanos(r.limit_value),
  }
}

/** The columns a rate row is read with (numbers as text: the driver may hand back JS numbers otherwise). */
const ROW_COLUMNS = `"scope", "tenant_id", "agent_type", "measure", "window", CAST("tat_ns" AS TEXT) AS tat_ns, CAST("limit_value" AS TEXT) AS limit_value`

/**
 * The TAT under the current limit (gcra.ts effectiveTat) as SQL: `t` the row, `lim` / `cap` the
 * window's limit and capacity, `now` the clock. PostgreSQL rescales in NUMERIC (exact); SQLite in
 * REAL, which is exact to well under a nanosecond for any owed time of a day or less.
 */
function effectiveTatSql(provider: SqlProvider, t: string, lim: string, cap: string, now: string): string {
  const owed =
    provider === 'postgresql'
      ? `CAST(CAST(${t}."tat_ns" - ${now} AS NUMERIC) * ${t}."limit_value" / ${lim} AS BIGINT)`
      : `CAST((${t}."tat_ns" - ${now}) * 1.0 * ${t}."limit_value" / ${lim} AS INTEGER)`
  const least = provider === 'postgresql' ? 'LEAST' : 'MIN'
  return `(CASE WHEN ${t}."limit_value" = ${lim} OR ${t}."limit_value" <= 0 OR ${t}."tat_ns" <= ${now} THEN ${t}."tat_ns"
    ELSE ${now} + ${least}(${owed}, ${cap}) END)`
}

const KEY_COLUMNS = ['scope', 'tenant_id', 'agent_type', 'measure', 'window'] as const
const keyMatch = (t: string, r: string) => KEY_COLUMNS.map((c, i) => `${t}."${c}" = ${r}.rk_${i}`).join(' AND ')

/** Creates missing rate rows (TAT 0: nothing owed) — outside the attempt, like counter rows. */
export async function ensureRateRows(db: RawRunner, provider: SqlProvider, keys: readonly RateKey[], now: Date): Promise<void> {
  if (keys.length === 0) return
  const p = new Params(provider)
  const tuples = keys.map((key) => `(${key.map((part) => p.add(part)).join(', ')}, 0, 0, ${p.add(now)})`)
  await db.$executeRawUnsafe(
    `INSERT INTO "llm_rate_limits" ("scope", "tenant_id", "agent_type", "measure", "window", "tat_ns", "limit_value", "updated_at")
     VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`,
    ...p.values,
  )
}

/** Reads rate rows by key (missing rows are absent). */
export async function readRateRows(db: RawRunner, provider: SqlProvider, keys: readonly RateKey[]): Promise<RateRow[]> {
  if (keys.length === 0) return []
  const p = new Params(provider)
  const conds = keys.map((k) => `(${KEY_COLUMNS.map((c, i) => `"${c}" = ${p.add(k[i])}`).join(' AND ')})`)
  const rows = (await db.$queryRawUnsafe(`SELECT ${ROW_COLUMNS} FROM "llm_rate_limits" WHERE ${conds.join(' OR ')}`, ...p.values)) as Record<string, unknown>[]
  return rows.map(toRateRow)
}

/** The `rv` relation of a statement's rate deltas (key columns rk_0…rk_4, r_inc, r_cap, r_lim); typed and empty when there are none. */
export function rateValues(p: Params, deltas: readonly RateDelta[]): string {
  const text = (v: string) => `CAST(${p.add(v)} AS TEXT)`
  const int = (v: bigint) => `CAST(${p.add(v)} AS BIGINT)`
  if (deltas.length === 0)
    return `SELECT ${KEY_COLUMNS.map((_, i) => `CAST(NULL AS TEXT) AS rk_${i}`).join(', ')}, CAST(NULL AS BIGINT) AS r_inc, CAST(NULL AS BIGINT) AS r_cap, CAST(NULL AS BIGINT) AS r_lim WHERE 1 = 0`
  return deltas
    .map(
      (d) =>
        `SELECT ${d.key.map((part, i) => `${text(part)} AS rk_${i}`).join(', ')}, ${int(d.increment)} AS r_inc, ${int(d.capacity)} AS r_cap, ${int(d.check.limit)} AS r_lim`,
    )
    .join(' UNION ALL ')
}

/** PostgreSQL: the database clock in ns, once per statement. */
export const CLOCK_CTE = `clk AS MATERIALIZED (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000 AS BIGINT) AS now_ns)`

/**
 * PostgreSQL admission: locks the rate rows of `rv` in key order — after the counter rows (the CTE
 * named by `after`, whose evaluation the scalar subquery forces first), the one lock order of every
 * statement that takes both, so none can deadlock another — and computes on each locked row its
 * GCRA step on the database clock: `new_tat` = max(effective TAT, now) + increment. The clock is
 * read once, before the rate rows' locks are waited for: a call that waited decides on an instant
 * a little earlier than its decision, which can only refuse (and name a retry) more cautiously.
 */
export const rateLockedCte = (after: string) => `rlocked AS (SELECT x.*, r.*, c.now_ns AS clock_ns,
      GREATEST(${effectiveTatSql('postgresql', 'x', 'r.r_lim', 'r.r_cap', 'c.now_ns')}, c.now_ns) + r.r_inc AS new_tat
    FROM rv AS r CROSS JOIN clk AS c CROSS JOIN LATERAL (
      SELECT y.* FROM "llm_rate_limits" AS y WHERE ${keyMatch('y', 'r')} AND (SELECT COUNT(*) FROM ${after}) >= 0 FOR UPDATE) AS x)`

/**
 * PostgreSQL: all `windows` rows exist and fit (GCRA: new TAT − now ≤ capacity). One aggregate over
 * the locked rows: the statement's plan stays small (measured: every node a statement carries costs
 * its executor start-up on each call, ~45 µs for the three subqueries this replaced).
 */
export const ratesFit = (windows: number) => `((SELECT COUNT(*) FILTER (WHERE l.new_tat - l.clock_ns <= l.r_cap) FROM rlocked AS l) = ${windows})`

/** PostgreSQL: the locked rate rows take their new TATs when `okExpression` holds. */
export const rateUpdateCte = (okExpression: string, updatedAt: string) => `rupd AS (UPDATE "llm_rate_limits" AS t
    SET "tat_ns" = l.new_tat, "limit_value" = l.r_lim, "updated_at" = ${updatedAt}
    FROM rlocked AS l WHERE ${keyMatch('t', 'l')} AND ${okExpression})`

/** PostgreSQL: the locked rate rows and the clock as JSON text, to name a refusing window. */
export const RATE_ROWS_JSON = `(SELECT json_build_object('now_ns', CAST((SELECT now_ns FROM clk) AS TEXT), 'rows',
    COALESCE((SELECT json_agg(json_build_object(${KEY_COLUMNS.map((c) => `'${c}', l."${c}"`).join(', ')}, 'tat_ns', CAST(l."tat_ns" AS TEXT),
      'limit_value', CAST(l."limit_value" AS TEXT))) FROM rlocked AS l), '[]'::json)))`

/** Parses RATE_ROWS_JSON as the driver returns it (text or parsed). */
export function parseRateRowsJson(value: unknown): { nowNs: bigint; rows: RateRow[] } | null {
  const parsed = typeof value === 'string' ? JSON.parse(value) : value
  if (!parsed || typeof parsed !== 'object') return null
  const v = parsed as { now_ns?: unknown; rows?: unknown }
  return { nowNs: toNanos(v.now_ns), rows: Array.isArray(v.rows) ? v.rows.map((r: Record<string, unknown>) => toRateRow(r)) : [] }
}

/**
 * SQLite on sqliteFastPath's connection (synchronous: nothing interleaves), constant texts compiled
 * once: the window's row is read, decided in JS (gcra.ts, exact integers) and written by its key.
 */
export const SELECT_RATE_SQLITE = `SELECT ${ROW_COLUMNS} FROM "llm_rate_limits"
  WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "measure" = ? AND "window" = ?`

/**
 * SQLite fast path, one statement for the common case: the window's row exists under the same limit
 * and the call fits — GCRA's `newTAT = max(TAT, now) + increment`, admitted iff `newTAT − now <=
 * capacity` (gcra.ts decide, in exact 64-bit integers), as a conditional update. When it changes no
 * row (a new row, a changed limit, or a refusal) the caller reads the row and decides in JS.
 */
export const TAKE_RATE_SQLITE = `UPDATE "llm_rate_limits" SET "tat_ns" = MAX("tat_ns", ?) + ?, "updated_at" = ?
  WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "measure" = ? AND "window" = ?
    AND "limit_value" = ? AND MAX("tat_ns", ?) + ? - ? <= ?`

export const takeRateValues = (d: RateDelta, nowNs: bigint, now: Date): unknown[] => [
  nowNs,
  d.increment,
  now,
  ...d.key,
  d.check.limit,
  nowNs,
  d.increment,
  nowNs,
  d.capacity,
]

export const WRITE_RATE_SQLITE = `UPDATE "llm_rate_limits" SET "tat_ns" = ?, "limit_value" = ?, "updated_at" = ?
  WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "measure" = ? AND "window" = ?`

/**
 * SQLite through Prisma: all windows or none in ONE statement (SQLite evaluates the uncorrelated
 * count once, before any row changes), and the same fit as a condition the counter statement can
 * carry, so budgets and windows are decided together.
 */
export function ratesAllOrNothingSqlite(deltas: readonly RateDelta[], nowNs: bigint, now: Date): [string, unknown[]] {
  const p = new Params('sqlite')
  const values = rateValues(p, deltas)
  // SQLite binds `?` in textual order: each use of the clock is a value of its own.
  const tat = clockUses(p, effectiveTatSql('sqlite', 't', 'rv.r_lim', 'rv.r_cap', '?'), nowNs)
  const ns = p.add(nowNs)
  const updatedAt = p.add(now)
  const [fit, fitParams] = ratesFitSqlite(deltas, nowNs)
  return [
    `WITH rv AS (${values}) UPDATE "llm_rate_limits" AS t SET "tat_ns" = MAX(${tat}, ${ns}) + rv.r_inc, "limit_value" = rv.r_lim, "updated_at" = ${updatedAt}
     FROM rv WHERE ${keyMatch('t', 'rv')} AND ${fit} RETURNING 1`,
    [...p.values, ...fitParams],
  ]
}

/** SQLite: "every window exists and fits" as a condition with its own values (for the counter statement's WHERE). */
export function ratesFitSqlite(deltas: readonly RateDelta[], nowNs: bigint): [string, unknown[]] {
  const p = new Params('sqlite')
  const values = rateValues(p, deltas)
  const tat = clockUses(p, effectiveTatSql('sqlite', 'l', 'q.r_lim', 'q.r_cap', '?'), nowNs)
  const a = p.add(nowNs)
  const b = p.add(nowNs)
  const n = p.add(deltas.length)
  return [
    `(SELECT COUNT(*) FROM "llm_rate_limits" AS l JOIN (${values}) AS q ON ${keyMatch('l', 'q')} WHERE MAX(${tat}, ${a}) + q.r_inc - ${b} <= q.r_cap) = CAST(${n} AS INTEGER)`,
    p.values,
  ]
}

/** Binds the clock once for each `?` of an expression (SQLite's placeholders are positional). */
function clockUses(p: Params, sql: string, nowNs: bigint): string {
  for (let i = 0; i < (sql.match(/\?/g) ?? []).length; i++) p.add(nowNs)
  return sql
}

/**
 * Token windows settle to the actual: the TAT moves by (actual − estimate) × interval — back for
 * an over-estimate, on for an under-estimate, at most to a full window of debt (an overrun costs
 * at most one window).
 */
export interface RateSettle {
  key: RateKey
  /** ns to add (negative for a refund). */
  adjustment: bigint
  capacity: bigint
}

export function tokenSettles(deltas: readonly RateDelta[], estimateTokens: bigint, actualTokens: bigint): RateSettle[] {
  if (actualTokens === estimateTokens) return []
  return deltas
    .filter((d) => d.check.measure === 'tokens')
    .map((d) => ({ key: d.key, adjustment: (actualTokens - estimateTokens) * d.interval, capacity: d.capacity }))
}

/** SQLite, constant text: one token window's settle adjustment. */
export const SETTLE_RATE_SQLITE = `UPDATE "llm_rate_limits" SET "tat_ns" = MIN("tat_ns" + ?, ? + ?)
  WHERE "scope" = ? AND "tenant_id" = ? AND "agent_type" = ? AND "measure" = ? AND "window" = ?`

export const settleRateValues = (s: RateSettle, nowNs: bigint): unknown[] => [s.adjustment, nowNs, s.capacity, ...s.key]

/** Deletes rows that owe nothing (their TAT has passed): they are the same as no row. Returns how many. */
export async function pruneRateRows(db: RawRunner, provider: SqlProvider, nowNs: bigint): Promise<number> {
  return db.$executeRawUnsafe(`DELETE FROM "llm_rate_limits" WHERE "tat_ns" < ${placeholder(provider, 1)}`, nowNs)
}

/**
 * PostgreSQL: the token windows' settle adjustments, applied when `condition` holds, as one UPDATE
 * per window chained in key order — each starts only once the one before it (the first: the CTE
 * named by `after`, the counter update) has run to completion. So a settle takes every counter row
 * it moves before any rate row, and the rate rows in key order, as admission does, with no FOR UPDATE
 * pass over the rate rows: each UPDATE locks its row itself (data-modifying CTEs run whether or not
 * the statement reads them).
 *
 * Measured (scenario 8): the earlier form — rate rows locked FOR UPDATE after forcing a FOR UPDATE
 * of every counter row (the counter UPDATE then took each again) — cost a settle ~70–100 µs more
 * on PostgreSQL than this.
 */
export function rateSettleCtes(p: Params, settles: readonly RateSettle[], after: string, condition: string): string {
  const ordered = [...settles].sort((a, b) => compareRateKeys(a.key, b.key))
  const steps = ordered.map((s, i) => {
    const key = s.key.map((part, c) => `"${KEY_COLUMNS[c]}" = CAST(${p.add(part)} AS TEXT)`).join(' AND ')
    const previous = i === 0 ? after : `rset_${i - 1}`
    return `rset_${i} AS (UPDATE "llm_rate_limits" SET "tat_ns" = LEAST("tat_ns" + CAST(${p.add(s.adjustment)} AS BIGINT), (SELECT now_ns FROM clk) + CAST(${p.add(s.capacity)} AS BIGINT))
             WHERE ${key} AND ${condition} AND (SELECT COUNT(*) FROM ${previous}) >= 0 RETURNING 1)`
  })
  return `${CLOCK_CTE}, ${steps.join(', ')}`
}

/** Applies settle adjustments one row at a time, in key order (inside the caller's transaction). */
export async function applyRateSettles(db: RawRunner, provider: SqlProvider, settles: readonly RateSettle[], nowNs: bigint): Promise<void> {
  const p = (i: number) => placeholder(provider, i)
  const now = provider === 'postgresql' ? `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000 AS BIGINT)` : p(2)
  const least = provider === 'postgresql' ? 'LEAST' : 'MIN'
  for (const s of [...settles].sort((a, b) => compareRateKeys(a.key, b.key))) {
    const base = provider === 'postgresql' ? 2 : 4
    await db.$executeRawUnsafe(
      `UPDATE "llm_rate_limits" SET "tat_ns" = ${least}("tat_ns" + ${p(1)}, ${now} + ${provider === 'postgresql' ? p(2) : p(3)})
       WHERE ${KEY_COLUMNS.map((c, i) => `"${c}" = ${p(base + 1 + i)}`).join(' AND ')}`,
      ...(provider === 'postgresql' ? [s.adjustment, s.capacity] : [s.adjustment, nowNs, s.capacity]),
      ...s.key,
    )
  }
}
