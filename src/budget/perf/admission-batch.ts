/**
 * PostgreSQL: admissions of concurrent calls decided in ONE statement.
 *
 * Why: calls of one tenant serialize on that tenant's counter rows, and each admission holds their
 * locks until its commit is flushed — about a millisecond here, so one tenant could not go much
 * past 1,000 admissions a second however many calls wait. Deciding the waiting admissions together
 * takes the locks once and commits once.
 *
 * How (coalesce.ts decides which admissions share a statement — only those that would otherwise
 * wait): the counter rows of every request are locked in the one global key order (compareKeys),
 * like every single admission and settle, so batches cannot deadlock with them. Then, per counter
 * row, the requests' reservations are summed cumulatively in request order, and a request is
 * admitted only if, on every one of its rows, the locked figures plus the cumulative sum up to and
 * including it fit every hard limit. The sum counts every earlier request of the batch, admitted or
 * not, so it can only overstate what is reserved: a batch never admits what sequential admissions
 * would refuse, and every limit holds. A request the batch does not admit is not refused: the caller
 * decides it again on its own (reserve()'s next round), with the counter rows the batch locked.
 */
import { EXECUTION_COLUMN_LIST, EXECUTION_RECORD_TYPES, executionJsonRecord, utcTimestamp } from '../../ledger/insert.js'
import type { ExecutionRow } from '../../ledger/record.js'
import { Coalescer, coalescerFor, jsonArray } from '../../foundation/coalesce.js'
import { LOCKED_CTE, toCounterRow, type CounterRow, type Delta } from '../../ledger/counters/statements.js'
import { keyId, lockRanks, type CounterKey } from '../../ledger/counters/keys.js'
import { queryRowsPg } from '../../db/pg-direct.js'
import { roomNeededSql } from '../../ledger/counters/fits.js'
import { Params, type RawRunner } from '../../db/client.js'

export interface AdmissionRequest {
  reservation: { executionId: string; keys: CounterKey[]; cost: bigint; tokens: bigint; expiresAt: Date }
  row: ExecutionRow
  deltas: Delta[]
  now: Date
}

/** Admitted, or not — with the counter rows it saw, when known. */
export interface AdmissionAnswer {
  ok: boolean
  rows?: CounterRow[]
}

const DELTA_INPUT = `req INTEGER, ord INTEGER, k_scope TEXT, k_tenant TEXT, k_agent TEXT, k_period TEXT, k_bucket TEXT,
  d_rc BIGINT, d_rt BIGINT, d_re BIGINT, l_c BIGINT, l_t BIGINT, l_e BIGINT`
const REQUEST_INPUT = `req INTEGER, nkeys INTEGER, h_counters TEXT, h_cost BIGINT, h_tokens BIGINT, h_expires TIMESTAMP(3), ${EXECUTION_RECORD_TYPES}`
const KEY = ['scope', 'tenant', 'agent', 'period', 'bucket'] as const
const KEY_COLUMNS = ['scope', 'tenant_id', 'agent_type', 'period', 'bucket']
const LOCKED_JSON = [
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
const onKey = (a: string, b: string, prefixA = 'k_') => KEY.map((k) => `${a}.${prefixA}${k} = ${b}.k_${k}`).join(' AND ')
const MEASURES = [
  ['c', 'cost_nanos'],
  ['t', 'tokens'],
  ['e', 'executions'],
] as const
// Per the rule of fits.ts: what is used before this request (locked figures + earlier requests of the
// batch) plus the room this request needs (at least one unit) must fit.
const fitsCumulative = MEASURES.map(
  ([m, col]) => `(cum.l_${m} IS NULL OR l."spent_${col}" + l."reserved_${col}" + cum.c_r${m} - cum.d_r${m} + ${roomNeededSql(`cum.d_r${m}`)} <= cum.l_${m})`,
).join(' AND ')

const BATCH_SQL = (
  requests: string,
  deltas: string,
  now: string,
) => `WITH r AS (SELECT * FROM jsonb_to_recordset(CAST(${requests} AS jsonb)) AS r(${REQUEST_INPUT})),
    d AS (SELECT * FROM jsonb_to_recordset(CAST(${deltas} AS jsonb)) AS d(${DELTA_INPUT})),
    v AS (SELECT DISTINCT ON (d.ord) d.ord, ${KEY.map((k) => `d.k_${k}`).join(', ')} FROM d ORDER BY d.ord),
    ${LOCKED_CTE},
    cum AS (SELECT d.*, ${MEASURES.map(([m]) => `SUM(d.d_r${m}) OVER w AS c_r${m}`).join(', ')} FROM d WINDOW w AS (PARTITION BY d.ord ORDER BY d.req)),
    fit AS (SELECT cum.req FROM cum JOIN locked AS l ON ${onKey('l', 'cum', 'lk_')}
            WHERE ${fitsCumulative}
            GROUP BY cum.req HAVING COUNT(*) = (SELECT r.nkeys FROM r WHERE r.req = cum.req)),
    a AS (SELECT ${KEY.map((k) => `d.k_${k}`).join(', ')}, ${MEASURES.map(([m]) => `CAST(SUM(d.d_r${m}) AS BIGINT) AS d_r${m}`).join(', ')}
          FROM d WHERE d.req IN (SELECT req FROM fit) GROUP BY ${KEY.map((k) => `d.k_${k}`).join(', ')}),
    upd AS (UPDATE "llm_budget_counters" AS c SET ${MEASURES.map(([m, col]) => `"reserved_${col}" = c."reserved_${col}" + a.d_r${m}`).join(', ')}, "updated_at" = ${now}
            FROM a WHERE ${KEY_COLUMNS.map((col, i) => `c."${col}" = a.k_${KEY[i]}`).join(' AND ')} AND EXISTS (SELECT 1 FROM locked) RETURNING 1),
    led AS (INSERT INTO "llm_executions" (${EXECUTION_COLUMN_LIST}) SELECT ${EXECUTION_COLUMN_LIST.split(', ')
      .map((c) => `r.${c}`)
      .join(', ')}
            FROM r WHERE r.req IN (SELECT req FROM fit) RETURNING 1),
    hold AS (INSERT INTO "llm_budget_holds" ("id", "tenant_id", "agent_type", "counters", "cost_nanos", "tokens", "state", "expires_at", "created_at")
             SELECT r."id", r."tenant_id", r."agent_type", r.h_counters, r.h_cost, r.h_tokens, 'open', r.h_expires, ${now}
             FROM r WHERE r.req IN (SELECT req FROM fit) RETURNING 1)
  SELECT (SELECT json_agg(req) FROM fit) AS admitted,
    CASE WHEN (SELECT COUNT(*) FROM fit) < (SELECT COUNT(*) FROM r) THEN (SELECT json_agg(json_build_object(${LOCKED_JSON})) FROM locked AS l) END AS locked_rows`

const text = (v: bigint | null | undefined) => (v === null || v === undefined ? null : v.toString())

/** One statement for all; each request's answer: admitted, or not (with the counter rows the batch locked). */
async function admitMany(client: RawRunner, reqs: AdmissionRequest[]): Promise<AdmissionAnswer[]> {
  const ord = lockRanks(reqs.flatMap((r) => r.deltas.map((d) => d.key)))
  const requests = reqs.map((r, req) => ({
    req,
    nkeys: r.deltas.length,
    h_counters: JSON.stringify(r.reservation.keys),
    h_cost: text(r.reservation.cost),
    h_tokens: text(r.reservation.tokens),
    h_expires: utcTimestamp(r.reservation.expiresAt),
    ...executionJsonRecord(r.row, r.now),
  }))
  const deltas = reqs.flatMap((r, req) =>
    r.deltas.map((d) => ({
      req,
      ord: ord.get(keyId(d.key)),
      k_scope: d.key[0],
      k_tenant: d.key[1],
      k_agent: d.key[2],
      k_period: d.key[3],
      k_bucket: d.key[4],
      d_rc: text(d.reservedCost),
      d_rt: text(d.reservedTokens),
      d_re: text(d.reservedExecutions),
      l_c: text(d.limitCost),
      l_t: text(d.limitTokens),
      l_e: text(d.limitExecutions),
    })),
  )
  const p = new Params('postgresql')
  const now = new Date(Math.max(...reqs.map((r) => r.now.getTime())))
  const sql = BATCH_SQL(p.add(JSON.stringify(requests)), p.add(JSON.stringify(deltas)), `CAST(${p.add(now)} AS TIMESTAMP(3))`)
  // The ledger rows and holds are written for exactly the `fit` set, in the same statement: all or nothing.
  const [result] = (await queryRowsPg(client, sql, p.values)) as Array<{ admitted?: unknown; locked_rows?: unknown }>
  const admitted = new Set<number>(jsonArray(result?.admitted))
  const locked = jsonArray(result?.locked_rows).map((row: Record<string, unknown>) => toCounterRow(row))
  const byKey = new Map(locked.map((c) => [keyId([c.scope, c.tenantId, c.agentType, c.period, c.bucket] as unknown as CounterKey), c]))
  return reqs.map((r, req) =>
    admitted.has(req) ? { ok: true } : { ok: false, rows: r.reservation.keys.map((k) => byKey.get(keyId(k))).filter((c): c is CounterRow => c !== undefined) },
  )
}

const batchers = new WeakMap<object, Coalescer<AdmissionRequest, AdmissionAnswer>>()

/** The admission batcher of a client (shared by every LlmBudgets on it). */
export function admissionBatcherFor(
  client: RawRunner,
  single: (req: AdmissionRequest) => Promise<AdmissionAnswer>,
): Coalescer<AdmissionRequest, AdmissionAnswer> {
  return coalescerFor(batchers, client, () => new Coalescer(single, (reqs) => admitMany(client, reqs)))
}
