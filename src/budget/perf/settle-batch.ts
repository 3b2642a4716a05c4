/**
 * PostgreSQL: settles of concurrent calls coalesced into ONE statement.
 *
 * Why: under load the cost of a call is dominated by per-statement overhead in the client (Prisma's
 * request pipeline, a socket write and a commit per statement), not by the database. Admission has
 * to be one statement per call (each call's all-or-nothing decision is its own), but settles never
 * refuse, so N settles waiting at the same moment can share one statement and one commit.
 *
 * How: coalesce.ts decides which settles share a statement (only those that would otherwise wait).
 * The batched statement keeps every guarantee of the single one:
 *  - exactly once: each ledger row moves `running → final` only if it is still running; only the
 *    calls whose row moved (RETURNING id) delete their hold and contribute deltas;
 *  - counter rows are locked in the one global key order (compareKeys), the order every admission
 *    and settle uses, so batches cannot deadlock with them;
 *  - per-key deltas are summed in SQL over the calls that actually settled.
 * A failed batch is retried one settle at a time: safe, since only rows still `running` move.
 */
import { keyId, lockRanks, type CounterKey } from '../../ledger/counters/keys.js'
import { applyV, LOCKED_CTE, LOCKED_MATCH, toCounterRow, type CounterRow } from '../../ledger/counters/statements.js'
import { executionDeltas } from '../../ledger/counters/spend.js'
import { utcTimestamp } from '../../ledger/insert.js'
import { Coalescer, coalescerFor, jsonArray } from '../../foundation/coalesce.js'
import type { ExecutionOutcome } from '../../ledger/record.js'
import type { HeldReservation } from '../../ledger/counters/spend.js'
import { queryRowsPg } from '../../db/pg-direct.js'
import { Params, type RawRunner } from '../../db/client.js'

export interface SettleRequest {
  executionId: string
  outcome: ExecutionOutcome
  held: HeldReservation
  /** The counters' updated_at. */
  now: Date
}

/** Counter rows after the settle, or null when the row was not `running` (the general path decides). */
export type SettleAnswer = CounterRow[] | null

type Single = (req: SettleRequest) => Promise<SettleAnswer>

const COUNTER_FIELDS = [
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
/** Numbers as text: JSON numbers would round nano-dollars beyond 2^53. */
const COUNTER_JSON = COUNTER_FIELDS.map((c) => `'${c}', CAST(c."${c}" AS TEXT)`).join(', ')

const LEDGER_INPUT = `"id" TEXT, "status" TEXT, "model" TEXT, "input_tokens" INTEGER, "output_tokens" INTEGER, "cached_input_tokens" INTEGER,
  "total_tokens" INTEGER, "input_cost_nanos" BIGINT, "output_cost_nanos" BIGINT, "total_cost_nanos" BIGINT, "completed_at" TIMESTAMP(3),
  "duration_ms" INTEGER, "error_class" TEXT, "metadata" JSONB, "error_message" TEXT`
const DELTA_INPUT = `ex TEXT, ord INTEGER, k_scope TEXT, k_tenant TEXT, k_agent TEXT, k_period TEXT, k_bucket TEXT,
  d_sc BIGINT, d_st BIGINT, d_se BIGINT, d_rc BIGINT, d_rt BIGINT, d_re BIGINT`
const SUMMED = ['d_sc', 'd_st', 'd_se', 'd_rc', 'd_rt', 'd_re'].map((c) => `CAST(SUM(d.${c}) AS BIGINT) AS ${c}`).join(', ')

const BATCH_SQL = (
  ledger: string,
  deltas: string,
  updatedAt: string,
) => `WITH input AS (SELECT * FROM jsonb_to_recordset(CAST(${ledger} AS jsonb)) AS i(${LEDGER_INPUT})),
    led AS (
      UPDATE "llm_executions" AS e SET "status" = i."status", "model" = i."model", "input_tokens" = i."input_tokens", "output_tokens" = i."output_tokens",
        "cached_input_tokens" = i."cached_input_tokens", "total_tokens" = i."total_tokens", "input_cost_nanos" = i."input_cost_nanos",
        "output_cost_nanos" = i."output_cost_nanos", "total_cost_nanos" = i."total_cost_nanos", "completed_at" = i."completed_at",
        "duration_ms" = i."duration_ms", "error_class" = i."error_class", "metadata" = COALESCE(i."metadata", e."metadata"), "error_message" = i."error_message"
      FROM input AS i WHERE e."id" = i."id" AND e."status" = 'running' RETURNING e."id"),
    h AS (DELETE FROM "llm_budget_holds" WHERE "id" IN (SELECT "id" FROM led) RETURNING "id"),
    d AS (SELECT * FROM jsonb_to_recordset(CAST(${deltas} AS jsonb)) AS d(${DELTA_INPUT})),
    v AS (SELECT d.ord, d.k_scope, d.k_tenant, d.k_agent, d.k_period, d.k_bucket, ${SUMMED},
            CAST(NULL AS BIGINT) AS l_c, CAST(NULL AS BIGINT) AS l_t, CAST(NULL AS BIGINT) AS l_e
          FROM d WHERE d.ex IN (SELECT "id" FROM led)
          GROUP BY d.ord, d.k_scope, d.k_tenant, d.k_agent, d.k_period, d.k_bucket ORDER BY d.ord),
    ${LOCKED_CTE},
    upd AS (UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)} FROM v WHERE ${LOCKED_MATCH} RETURNING c.*)
  SELECT (SELECT json_agg("id") FROM led) AS settled, (SELECT COUNT(*) FROM h) AS holds, (SELECT json_agg(json_build_object(${COUNTER_JSON})) FROM upd AS c) AS counters`

const text = (v: bigint) => v.toString()

/** One statement for all; each request's answer: the counter rows of its keys, or null if not settled. */
async function settleMany(client: RawRunner, reqs: SettleRequest[]): Promise<SettleAnswer[]> {
  const ledger = reqs.map(({ executionId: id, outcome: o }) => ({
    id,
    status: o.status,
    model: o.model,
    input_tokens: o.inputTokens,
    output_tokens: o.outputTokens,
    cached_input_tokens: o.cachedInputTokens,
    total_tokens: o.totalTokens,
    input_cost_nanos: text(o.inputCostNanos),
    output_cost_nanos: text(o.outputCostNanos),
    total_cost_nanos: text(o.totalCostNanos),
    completed_at: utcTimestamp(o.completedAt),
    duration_ms: o.durationMs,
    error_class: o.errorClass,
    metadata: o.metadata,
    error_message: o.errorMessage,
  }))
  const ord = lockRanks(reqs.flatMap((r) => r.held.keys))
  const deltas = reqs.flatMap(({ executionId, outcome, held }) =>
    executionDeltas(
      held.keys,
      { cost: outcome.totalCostNanos, tokens: BigInt(outcome.totalTokens), executions: 1n },
      { cost: held.cost, tokens: held.tokens, executions: 1n },
    ).map((d) => ({
      ex: executionId,
      ord: ord.get(keyId(d.key)),
      k_scope: d.key[0],
      k_tenant: d.key[1],
      k_agent: d.key[2],
      k_period: d.key[3],
      k_bucket: d.key[4],
      d_sc: text(d.spentCost!),
      d_st: text(d.spentTokens!),
      d_se: text(d.spentExecutions!),
      d_rc: text(d.reservedCost!),
      d_rt: text(d.reservedTokens!),
      d_re: text(d.reservedExecutions!),
    })),
  )
  const p = new Params('postgresql')
  const sql = BATCH_SQL(p.add(JSON.stringify(ledger)), p.add(JSON.stringify(deltas)), p.add(new Date(Math.max(...reqs.map((r) => r.now.getTime())))))
  const [row] = (await queryRowsPg(client, sql, p.values)) as Array<{ settled?: unknown; counters?: unknown }>
  const settled = new Set<string>(jsonArray(row?.settled))
  const rows = jsonArray(row?.counters).map((r: Record<string, unknown>) => toCounterRow(r))
  const byKey = new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
  return reqs.map((r) => (settled.has(r.executionId) ? r.held.keys.map((k) => byKey.get(keyId(k))).filter((c): c is CounterRow => c !== undefined) : null))
}

const batchers = new WeakMap<object, Coalescer<SettleRequest, SettleAnswer>>()

/** The settle batcher of a client (shared by every LlmBudgets on it: more settles to coalesce). */
export function settleBatcherFor(client: RawRunner, single: Single): Coalescer<SettleRequest, SettleAnswer> {
  return coalescerFor(batchers, client, () => new Coalescer(single, (reqs) => settleMany(client, reqs)))
}
