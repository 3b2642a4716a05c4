/**
 * SQLite admission: one transaction — counters and rate windows all or nothing, then the `running`
 * ledger row and the hold; when refused, the rows as the transaction saw them (they name the limit
 * without another read). On sqliteFastPath's connection the transaction runs synchronously with
 * constant statement texts, deciding in JS between statements; through Prisma it is one batch of
 * all-or-nothing statements.
 */
import type { RawRunner, TransactionRunner } from '../db/client.js'
import { Params } from '../db/client.js'
import { directSqliteConnection, type SqliteDirectConnection } from '../db/sqlite-direct.js'
import {
  allOrNothingUpdateSqlite,
  counterRowValues,
  readCountersStatement,
  runBatch,
  SELECT_COUNTER_ROW_SQLITE,
  toCounterRow,
  UPDATE_COUNTER_ROW_SQLITE,
  type BatchStep,
  type Delta,
} from '../ledger/counters/statements.js'
import { EXECUTION_COLUMN_LIST, executionValueList, executionValues, INSERT_EXECUTION_SQLITE } from '../ledger/insert.js'
import type { ExecutionRow } from '../ledger/record.js'
import { decide, toNs } from '../rate-limits/gcra.js'
import {
  ratesAllOrNothingSqlite,
  ratesFitSqlite,
  SELECT_RATE_SQLITE,
  TAKE_RATE_SQLITE,
  takeRateValues,
  toRateRow,
  WRITE_RATE_SQLITE,
  type RateDelta,
} from '../rate-limits/statements.js'
import type { Attempt, Reservation } from './admission-pg.js'

const INSERT_HOLD_SQLITE = `INSERT INTO "llm_budget_holds" ("id", "tenant_id", "agent_type", "counters", "cost_nanos", "tokens", "state", "expires_at", "created_at")
  VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`

const holdValues = (res: Reservation, row: ExecutionRow, now: Date) => [
  res.executionId,
  row.tenantId,
  row.agentType,
  JSON.stringify(res.keys),
  res.cost,
  res.tokens,
  res.expiresAt,
  now,
]

export async function attemptSqlite(
  client: TransactionRunner & RawRunner,
  res: Reservation,
  row: ExecutionRow,
  deltas: Delta[],
  rates: RateDelta[],
  now: Date,
  rateNow: Date = now,
): Promise<Attempt> {
  const direct = directSqliteConnection(client)
  if (direct?.available) return reserveOnConnection(direct, res, row, deltas, rates, now, rateNow)
  const nowNs = toNs(rateNow)
  // Counters only if every window fits too; windows only if the counters moved: all or nothing.
  const counters = allOrNothingUpdateSqlite(deltas, now, rates.length > 0 ? ratesFitSqlite(rates, nowNs) : undefined)
  const countersTaken = (earlier: unknown[][]) => earlier[0].length === deltas.length
  const admitted = (earlier: unknown[][]) => countersTaken(earlier) && earlier[1].length === rates.length
  const p = new Params('sqlite')
  const values = executionValueList('sqlite', row, now, (v) => p.add(v))
  const steps: BatchStep[] = [
    counters,
    rates.length > 0 ? [...ratesAllOrNothingSqlite(rates, nowNs, now), countersTaken] : ['SELECT 1 WHERE 1 = 0', []],
    [`INSERT INTO "llm_executions" (${EXECUTION_COLUMN_LIST}) SELECT ${values}`, p.values, admitted],
    [INSERT_HOLD_SQLITE, holdValues(res, row, now), admitted],
    res.keys.length > 0 ? [...readCountersStatement('sqlite', res.keys), (earlier) => !admitted(earlier)] : ['SELECT 1 WHERE 1 = 0', []],
    rates.length > 0 ? [...readRatesStatement(rates), (earlier) => !admitted(earlier)] : ['SELECT 1 WHERE 1 = 0', []],
  ]
  const results = (await runBatch(client as never, steps)) as unknown[][]
  if (admitted(results)) return { ok: true }
  return {
    ok: false,
    rows: (results[4] as Record<string, unknown>[]).map(toCounterRow),
    rates: rates.length > 0 ? { nowNs, rows: (results[5] as Record<string, unknown>[]).map(toRateRow) } : undefined,
  }
}

function readRatesStatement(rates: RateDelta[]): [string, unknown[]] {
  const p = new Params('sqlite')
  const conds = rates.map((d) => `(${['scope', 'tenant_id', 'agent_type', 'measure', 'window'].map((c, i) => `"${c}" = ${p.add(d.key[i])}`).join(' AND ')})`)
  return [
    `SELECT "scope", "tenant_id", "agent_type", "measure", "window", CAST("tat_ns" AS TEXT) AS tat_ns, CAST("limit_value" AS TEXT) AS limit_value FROM "llm_rate_limits" WHERE ${conds.join(' OR ')}`,
    p.values,
  ]
}

/**
 * SQLite on sqliteFastPath's connection (synchronous: nothing else runs on it meanwhile, so JS may
 * decide between statements). Each counter row, then each rate window, is updated by its key only
 * if it fits (a window by one conditional update when its row exists under the same limit, else
 * read, decided in JS and written); the first that does not fit (or does not exist) rolls the transaction back — nothing
 * reserved — and the rows are read to name the limit (after the rollback: if another process
 * commits in between so that the read shows room, reserve() simply tries again). All statements are
 * constant texts, compiled once: 8 vs 20 µs of SQLite time for the four counter rows of a call in
 * bench scenario 1's setup.
 */
function reserveOnConnection(
  direct: SqliteDirectConnection,
  res: Reservation,
  row: ExecutionRow,
  deltas: Delta[],
  rates: RateDelta[],
  now: Date,
  rateNow: Date,
): Attempt {
  const nowNs = toNs(rateNow)
  const admitted = direct.transaction((tx) => {
    for (const d of deltas) if (tx.changes(UPDATE_COUNTER_ROW_SQLITE, counterRowValues(d, now)) === 0) return { commit: false, value: false }
    for (const r of rates) {
      if (tx.changes(TAKE_RATE_SQLITE, takeRateValues(r, nowNs, now)) === 1) continue
      const [stored] = (tx.query(SELECT_RATE_SQLITE, r.key) as Record<string, unknown>[]).map(toRateRow)
      const decision = stored && decide(stored.tatNs, nowNs, r.cost, r.check.limit, r.check.window, stored.limitValue)
      if (!decision?.fits) return { commit: false, value: false }
      tx.changes(WRITE_RATE_SQLITE, [decision.tat, r.check.limit, now, ...r.key])
    }
    tx.changes(INSERT_EXECUTION_SQLITE, executionValues(row, now))
    tx.changes(INSERT_HOLD_SQLITE, holdValues(res, row, now))
    return { commit: true, value: true }
  })
  if (admitted) return { ok: true }
  return {
    ok: false,
    rows: res.keys.flatMap((k) => direct.query(SELECT_COUNTER_ROW_SQLITE, k) as Record<string, unknown>[]).map(toCounterRow),
    rates:
      rates.length > 0 ? { nowNs, rows: rates.flatMap((r) => direct.query(SELECT_RATE_SQLITE, r.key) as Record<string, unknown>[]).map(toRateRow) } : undefined,
  }
}
