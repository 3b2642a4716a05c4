/**
 * PostgreSQL admission: the whole reservation in ONE statement (one round trip, one commit) — lock
 * the counter rows in key order, then the rate-limit rows in key order, decide on the locked
 * (latest) values and the database clock whether every hard limit and every rate window fits, and
 * only then update them all and insert the `running` ledger row and the hold. All or nothing, no
 * interactive transaction held open. Calls without rate windows may share the statement with
 * concurrent ones (perf/admission-batch.ts).
 */
import { Params, type RawRunner } from '../db/client.js'
import { queryRowsPg } from '../db/pg-direct.js'
import { applyV, deltaSelects, fitsV, LOCKED_CTE, LOCKED_MATCH, matchesV, toCounterRow, type CounterRow, type Delta } from '../ledger/counters/statements.js'
import { EXECUTION_COLUMN_LIST, executionValueList } from '../ledger/insert.js'
import type { CounterKey } from '../ledger/counters/keys.js'
import type { ExecutionRow } from '../ledger/record.js'
import {
  CLOCK_CTE,
  parseRateRowsJson,
  RATE_ROWS_JSON,
  ratesFit,
  rateLockedCte,
  rateUpdateCte,
  rateValues,
  type RateDelta,
  type RateRow,
} from '../rate-limits/statements.js'
import { admissionBatcherFor } from './perf/admission-batch.js'

export interface Reservation {
  executionId: string
  keys: CounterKey[]
  cost: bigint
  tokens: bigint
  expiresAt: Date
}

/** An admission attempt: admitted, or not — with the rows it saw when the statement reports them. */
export interface Attempt {
  ok: boolean
  /** The locked counter rows (refused attempts): saves re-reading them to name the limit. */
  rows?: CounterRow[]
  /** The locked rate rows and the clock they were decided on (refused attempts with rate windows). */
  rates?: { nowNs: bigint; rows: RateRow[] }
}

/** The locked rows as JSON, numbers as text (JSON numbers would round nano-dollars beyond 2^53). */
const LOCKED_JSON_FIELDS = [
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
  .map((c) => `'${c}', CAST(l."${c}" AS TEXT)`)
  .join(', ')

async function reserveInOneStatement(client: RawRunner, res: Reservation, row: ExecutionRow, deltas: Delta[], rates: RateDelta[], now: Date): Promise<Attempt> {
  const p = new Params('postgresql')
  const selects = deltaSelects(p, deltas)
  const n = p.add(deltas.length)
  const updatedAt = p.add(now)
  const rv = rates.length > 0 ? rateValues(p, rates) : ''
  const values = executionValueList('postgresql', row, now, (v) => p.add(v))
  const hold = [res.executionId, row.tenantId, row.agentType, JSON.stringify(res.keys), res.cost, res.tokens, res.expiresAt, now].map((v) => p.add(v))
  const withRates = rates.length > 0
  const sql = `WITH v AS (${selects.join(' UNION ALL ')}), ${LOCKED_CTE},
    ${withRates ? `rv AS (${rv}), ${CLOCK_CTE}, ${rateLockedCte('locked')},` : ''}
    ok AS (SELECT COUNT(*) = CAST(${n} AS BIGINT)${withRates ? ` AND ${ratesFit(rates.length)}` : ''} AS ok FROM locked AS l JOIN v ON ${matchesV('l')} WHERE ${fitsV('l')}),
    upd AS (UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)} FROM v
            WHERE ${LOCKED_MATCH} AND (SELECT ok FROM ok)),
    ${withRates ? `${rateUpdateCte('(SELECT ok FROM ok)', `CAST(${updatedAt} AS TIMESTAMP(3))`)},` : ''}
    led AS (INSERT INTO "llm_executions" (${EXECUTION_COLUMN_LIST}) SELECT ${values} WHERE (SELECT ok FROM ok)),
    hold AS (INSERT INTO "llm_budget_holds" ("id", "tenant_id", "agent_type", "counters", "cost_nanos", "tokens", "state", "expires_at", "created_at")
             SELECT ${hold[0]}, ${hold[1]}, ${hold[2]}, ${hold[3]}, CAST(${hold[4]} AS BIGINT), CAST(${hold[5]} AS BIGINT), 'open', CAST(${hold[6]} AS TIMESTAMP(3)), CAST(${hold[7]} AS TIMESTAMP(3))
             WHERE (SELECT ok FROM ok))
    SELECT (SELECT ok FROM ok) AS ok,
      CASE WHEN (SELECT ok FROM ok) THEN NULL ELSE (SELECT json_agg(json_build_object(${LOCKED_JSON_FIELDS})) FROM locked AS l) END AS locked_rows,
      ${withRates ? `CASE WHEN (SELECT ok FROM ok) THEN NULL ELSE ${RATE_ROWS_JSON} END` : 'NULL'} AS rate_rows`
  const [result] = (await queryRowsPg(client, sql, p.values)) as Array<{ ok?: unknown; locked_rows?: unknown; rate_rows?: unknown }>
  if (result?.ok === true) return { ok: true }
  const locked = typeof result?.locked_rows === 'string' ? JSON.parse(result.locked_rows) : result?.locked_rows
  return {
    ok: false,
    rows: Array.isArray(locked) ? locked.map((r: Record<string, unknown>) => toCounterRow(r)) : [],
    rates: withRates ? (parseRateRowsJson(result?.rate_rows) ?? undefined) : undefined,
  }
}

/**
 * A first attempt without rate windows may share one statement with concurrent admissions
 * (admission-batch.ts); a call the batch did not admit is decided again on its own. Calls with
 * rate windows are decided one statement each (their windows are locked with the counters).
 */
export function attemptPg(
  client: RawRunner,
  res: Reservation,
  row: ExecutionRow,
  deltas: Delta[],
  rates: RateDelta[],
  now: Date,
  first: boolean,
): Promise<Attempt> {
  // (A call without counter rows — no tenant, no global budget — is never admitted by a batch, which matches rows.)
  if (!first || rates.length > 0 || deltas.length === 0) return reserveInOneStatement(client, res, row, deltas, rates, now)
  return admissionBatcherFor(client, (r) => reserveInOneStatement(client, r.reservation, r.row, r.deltas, [], r.now)).run({
    reservation: res,
    row,
    deltas,
    now,
  })
}
