/**
 * Settlement: after the provider call, move the hold to spent at the actual figures — exactly once.
 * The `running → final` ledger update is the idempotency gate: a second settle of the same
 * execution updates no ledger row and touches no counter. Release (error, cancel) is a settle with
 * whatever was consumed. Expiry releases holds whose process died; a late settle of an expired
 * hold still records the real outcome once.
 */
import {
  applyDeltas,
  applyV,
  counterRowValues,
  deltaSelects,
  SELECT_COUNTER_ROW_SQLITE,
  UPDATE_COUNTER_ROW_SQLITE,
  type Delta,
  LOCKED_CTE,
  LOCKED_MATCH,
  matchesV,
  runBatch,
  toCounterRow,
  type BatchStep,
  type CounterRow,
} from '../ledger/counters/statements.js'
import { counterKeysFor, type CounterKey } from '../ledger/counters/keys.js'
import { executionDeltas } from '../ledger/counters/spend.js'
import { settleBatcherFor } from './perf/settle-batch.js'
import type { ExecutionOutcome } from '../ledger/record.js'
import { toNanos as big } from '../foundation/money.js'
import { queryRowsPg } from '../db/pg-direct.js'
import { directSqliteConnection, type SqliteDirectConnection } from '../db/sqlite-direct.js'
import { Params, placeholder, type LlmPrismaClient, type RawRunner, type SqlProvider, type TransactionRunner } from '../db/client.js'
import { forgetUsageDays } from '../ledger/usage-days.js'
import type { HeldReservation } from '../ledger/counters/spend.js'
import type { HoldRow } from './expiry.js'
import { toNs } from '../rate-limits/gcra.js'
import { applyRateSettles, rateSettleCtes, SETTLE_RATE_SQLITE, settleRateValues, type RateSettle } from '../rate-limits/statements.js'

export interface SettleResult {
  /** false when this execution had already been settled (nothing changed). */
  settled: boolean
  late: boolean
  counters: CounterRow[]
}

function updateLedgerSql(provider: SqlProvider, where: string): string {
  const p = (i: number) => placeholder(provider, i)
  const json = provider === 'postgresql' ? `${p(13)}::jsonb` : p(13)
  return `UPDATE "llm_executions" SET "status" = ${p(1)}, "model" = ${p(2)}, "input_tokens" = ${p(3)}, "output_tokens" = ${p(4)},
      "cached_input_tokens" = ${p(5)}, "total_tokens" = ${p(6)}, "input_cost_nanos" = ${p(7)}, "output_cost_nanos" = ${p(8)},
      "total_cost_nanos" = ${p(9)}, "completed_at" = ${p(10)}, "duration_ms" = ${p(11)}, "error_class" = ${p(12)},
      "metadata" = COALESCE(${json}, "metadata"), "error_message" = ${p(14)}
    WHERE "id" = ${p(15)} AND ${where}`
}

function outcomeParams(executionId: string, outcome: ExecutionOutcome): unknown[] {
  return [
    outcome.status,
    outcome.model,
    outcome.inputTokens,
    outcome.outputTokens,
    outcome.cachedInputTokens,
    outcome.totalTokens,
    outcome.inputCostNanos,
    outcome.outputCostNanos,
    outcome.totalCostNanos,
    outcome.completedAt,
    outcome.durationMs,
    outcome.errorClass,
    outcome.metadata === null ? null : JSON.stringify(outcome.metadata),
    outcome.errorMessage,
    executionId,
  ]
}

/**
 * PostgreSQL fast path, ONE statement: `running → final` on the ledger row (the exactly-once gate),
 * delete the hold, move reserved → spent on every counter row (locked in key order). Returns null
 * when the row was not `running` (already settled, or its hold expired): the general path decides.
 */
async function settleInOneStatement(
  client: RawRunner,
  executionId: string,
  outcome: ExecutionOutcome,
  held: HeldReservation,
  rates: readonly RateSettle[],
  now: Date,
): Promise<CounterRow[] | null> {
  const p = new Params('postgresql')
  const ledgerParams = outcomeParams(executionId, outcome).map((v) => p.add(v))
  const [status, model, inT, outT, cachedT, totalT, inC, outC, totalC, completed, duration, errClass, meta, errMsg, id] = ledgerParams
  const spent = { cost: outcome.totalCostNanos, tokens: BigInt(outcome.totalTokens), executions: 1n }
  const deltas = executionDeltas(held.keys, spent, { cost: held.cost, tokens: held.tokens, executions: 1n })
  const selects = deltaSelects(p, deltas)
  const updatedAt = p.add(now)
  const sql = `WITH led AS (
      UPDATE "llm_executions" SET "status" = ${status}, "model" = ${model}, "input_tokens" = CAST(${inT} AS INTEGER), "output_tokens" = CAST(${outT} AS INTEGER),
        "cached_input_tokens" = CAST(${cachedT} AS INTEGER), "total_tokens" = CAST(${totalT} AS INTEGER), "input_cost_nanos" = CAST(${inC} AS BIGINT),
        "output_cost_nanos" = CAST(${outC} AS BIGINT), "total_cost_nanos" = CAST(${totalC} AS BIGINT), "completed_at" = CAST(${completed} AS TIMESTAMP(3)),
        "duration_ms" = CAST(${duration} AS INTEGER), "error_class" = ${errClass}, "metadata" = COALESCE(CAST(${meta} AS jsonb), "metadata"), "error_message" = ${errMsg}
      WHERE "id" = ${id} AND "status" = 'running' RETURNING "id"),
    h AS (DELETE FROM "llm_budget_holds" WHERE "id" = ${id} AND EXISTS (SELECT 1 FROM led) RETURNING "id"),
    v AS (${selects.join(' UNION ALL ')}), ${LOCKED_CTE},
    upd AS (UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)} FROM v
            WHERE ${LOCKED_MATCH} AND EXISTS (SELECT 1 FROM led)
            RETURNING c."scope", c."tenant_id", c."agent_type", c."period", c."bucket", c."spent_cost_nanos", c."spent_tokens", c."spent_executions",
              c."reserved_cost_nanos", c."reserved_tokens", c."reserved_executions", c."alerted")
    ${rates.length > 0 ? `, ${rateSettleCtes(p, rates, 'upd', 'EXISTS (SELECT 1 FROM led)')}` : ''}
    SELECT upd.*, (SELECT COUNT(*) FROM h) AS holds FROM upd`
  const rows = await queryRowsPg(client, sql, p.values)
  return rows.length === 0 ? null : rows.map(toCounterRow)
}

/**
 * SQLite fast path, ONE transaction: `running → final` on the ledger row, then — only if that
 * update happened — the hold deleted and the counters moved. Null when the row was not `running`
 * (the general path decides).
 */
async function settleInOneBatch(
  client: TransactionRunner & RawRunner,
  executionId: string,
  outcome: ExecutionOutcome,
  held: HeldReservation,
  rates: readonly RateSettle[],
  now: Date,
): Promise<CounterRow[] | null> {
  const gated = (earlier: unknown[][]) => earlier[0].length === 1
  const spent = { cost: outcome.totalCostNanos, tokens: BigInt(outcome.totalTokens), executions: 1n }
  const deltas = executionDeltas(held.keys, spent, { cost: held.cost, tokens: held.tokens, executions: 1n })
  const direct = directSqliteConnection(client)
  if (direct?.available) return settleOnConnection(direct, executionId, outcome, deltas, rates, held.watched ?? held.keys, now)
  const p = new Params('sqlite')
  const selects = deltaSelects(p, deltas)
  const updatedAt = p.add(now)
  const steps: BatchStep[] = [
    [`${updateLedgerSql('sqlite', `"status" = 'running'`)} RETURNING "id"`, outcomeParams(executionId, outcome)],
    [`DELETE FROM "llm_budget_holds" WHERE "id" = ? RETURNING "id"`, [executionId], gated],
    [
      `WITH v AS (${selects.join(' UNION ALL ')}) UPDATE "llm_budget_counters" AS c SET ${applyV(updatedAt)} FROM v
      WHERE ${matchesV('c')}
      RETURNING "scope", "tenant_id", "agent_type", "period", "bucket", "spent_cost_nanos", "spent_tokens", "spent_executions",
        "reserved_cost_nanos", "reserved_tokens", "reserved_executions", "alerted"`,
      p.values,
      gated,
    ],
    ...rates.map((r): BatchStep => [SETTLE_RATE_SQLITE, settleRateValues(r, toNs(now)), gated]),
  ]
  const [led, , rows] = (await runBatch(client as never, steps)) as [unknown[], unknown[], Record<string, unknown>[]]
  return led.length === 1 ? rows.map(toCounterRow) : null
}

const SETTLE_LEDGER_SQLITE = updateLedgerSql('sqlite', `"status" = 'running'`)

/**
 * SQLite on sqliteFastPath's connection (synchronous: nothing interleaves): the same three steps
 * with constant statement texts, one counter row at a time by its key (see reserveOnConnection).
 */
function settleOnConnection(
  direct: SqliteDirectConnection,
  executionId: string,
  outcome: ExecutionOutcome,
  deltas: Delta[],
  rates: readonly RateSettle[],
  watched: readonly CounterKey[],
  now: Date,
): CounterRow[] | null {
  const nowNs = toNs(now)
  return direct.transaction((tx) => {
    if (tx.changes(SETTLE_LEDGER_SQLITE, outcomeParams(executionId, outcome)) === 0) return { commit: false, value: null }
    tx.changes(`DELETE FROM "llm_budget_holds" WHERE "id" = ?`, [executionId])
    for (const d of deltas) tx.changes(UPDATE_COUNTER_ROW_SQLITE, counterRowValues(d, now))
    for (const r of rates) tx.changes(SETTLE_RATE_SQLITE, settleRateValues(r, nowNs))
    const rows = watched.flatMap((key) => tx.query(SELECT_COUNTER_ROW_SQLITE, key) as Record<string, unknown>[])
    return { commit: true, value: rows.map(toCounterRow) }
  })
}

export async function settle(
  client: TransactionRunner & RawRunner,
  provider: SqlProvider,
  executionId: string,
  outcome: ExecutionOutcome,
  timeZone: string,
  now: Date,
  held?: HeldReservation,
  rates: readonly RateSettle[] = [],
): Promise<SettleResult> {
  if (held && held.keys.length > 0) {
    // A settle that moves token windows goes alone (its windows are locked with its counters);
    // the others may share a statement (perf/settle-batch.ts).
    const counters =
      provider !== 'postgresql'
        ? await settleInOneBatch(client, executionId, outcome, held, rates, now)
        : rates.length > 0
          ? await settleInOneStatement(client, executionId, outcome, held, rates, now)
          : await settleBatcherFor(client, (r) => settleInOneStatement(client, r.executionId, r.outcome, r.held, [], r.now)).run({
              executionId,
              outcome,
              held,
              now,
            })
    if (counters) return { settled: true, late: false, counters }
  }
  const p = (i: number) => placeholder(provider, i)
  const params = outcomeParams(executionId, outcome)
  return (await client.$transaction(
    async (tx) => {
      if ((await tx.$executeRawUnsafe(updateLedgerSql(provider, `"status" = 'running'`), ...params)) === 0)
        return settleLate(tx, provider, executionId, outcome, now)
      const [hold] = (await tx.$queryRawUnsafe(
        `DELETE FROM "llm_budget_holds" WHERE "id" = ${p(1)} RETURNING "id", "counters", "cost_nanos", "tokens", "state"`,
        executionId,
      )) as HoldRow[]
      let keys: CounterKey[]
      if (hold) {
        keys = JSON.parse(hold.counters) as CounterKey[]
      } else {
        const [row] = (await tx.$queryRawUnsafe(
          `SELECT "tenant_id", "agent_type", "started_at" FROM "llm_executions" WHERE "id" = ${p(1)}`,
          executionId,
        )) as Array<{ tenant_id: string | null; agent_type: string; started_at: unknown }>
        keys = counterKeysFor(row.tenant_id, row.agent_type, new Date(row.started_at as string), timeZone)
      }
      const released = hold ? { cost: big(hold.cost_nanos), tokens: big(hold.tokens), executions: 1n } : null
      const spent = { cost: outcome.totalCostNanos, tokens: BigInt(outcome.totalTokens), executions: 1n }
      const counters = await applyDeltas(tx, provider, executionDeltas(keys, spent, released), now)
      await applyRateSettles(tx, provider, rates, toNs(now))
      return { settled: true, late: false, counters }
    },
    { maxWait: 10_000, timeout: 20_000 },
  )) as SettleResult
}

/**
 * A settle that arrives after its hold expired (the holder outlived holdTtlMs, or its settle was
 * pending while the database was unreachable): the expired hold row is the fact that decides it —
 * taken (deleted) once, so a second late settle finds nothing. The timeout row becomes the real
 * outcome, and the counters move by the difference from what expiry recorded (zero usage under
 * `holdExpiry: 'release'`, the reservation under `'charge'`); the execution was counted at expiry.
 * The timeout row is not `running`, so its day may already be in the day rollup: that stored day is
 * deleted in this transaction (forgetUsageDays), and recomputed with the real outcome when read.
 */
async function settleLate(tx: RawRunner, provider: SqlProvider, executionId: string, outcome: ExecutionOutcome, now: Date): Promise<SettleResult> {
  const p = (i: number) => placeholder(provider, i)
  const [hold] = (await tx.$queryRawUnsafe(
    `DELETE FROM "llm_budget_holds" WHERE "id" = ${p(1)} AND "state" = 'expired' RETURNING "counters"`,
    executionId,
  )) as Array<{ counters: string }>
  if (!hold) return { settled: false, late: false, counters: [] }
  const [before] = (await tx.$queryRawUnsafe(
    `SELECT "total_cost_nanos", "total_tokens", "started_at" FROM "llm_executions" WHERE "id" = ${p(1)} AND "status" = 'timeout'`,
    executionId,
  )) as Array<{ total_cost_nanos: unknown; total_tokens: unknown; started_at: unknown }>
  if (!before || (await tx.$executeRawUnsafe(updateLedgerSql(provider, `"status" = 'timeout'`), ...outcomeParams(executionId, outcome))) === 0) {
    return { settled: false, late: false, counters: [] }
  }
  await forgetUsageDays(tx as unknown as LlmPrismaClient, provider, [new Date(before.started_at as string)], now)
  const difference = {
    cost: outcome.totalCostNanos - big(before.total_cost_nanos),
    tokens: BigInt(outcome.totalTokens) - big(before.total_tokens),
    executions: 0n,
  }
  const keys = (JSON.parse(hold.counters) as CounterKey[]).filter((k) => k[3] !== 'inflight')
  const counters = await applyDeltas(tx, provider, executionDeltas(keys, difference, null), now)
  return { settled: true, late: true, counters }
}
