/**
 * Hold expiry: a crashed holder (or one that outlived holdTtlMs) cannot pin a budget. Its holds are
 * released by the next sweep — `holdExpiry` decides what they cost (release: nothing; charge: the
 * reservation) — and its running rows become timeouts, counted once.
 */
import { placeholder, type RawRunner, type SqlProvider, type TransactionRunner } from '../db/client.js'
import { toNanos as big } from '../foundation/money.js'
import type { CounterKey } from '../ledger/counters/keys.js'
import { executionDeltas, mergeDeltas } from '../ledger/counters/spend.js'
import { applyDeltas } from '../ledger/counters/statements.js'

/** The error class of a row whose hold expired before the call settled. */
const HOLD_EXPIRED_ERROR = 'HoldExpiredError'

/** A hold row as the settle and expiry statements return it. */
export interface HoldRow {
  id: string
  counters: string
  cost_nanos: unknown
  tokens: unknown
  state: string
}

/** Ids per statement when expiring holds (an IN list, and SQLite's bound-parameter limit). */
const EXPIRE_CHUNK = 500

/**
 * Releases holds past their expiry: their `running` ledger rows become `timeout` /
 * HoldExpiredError, counted as one execution each. Under `holdExpiry: 'release'` (default) the
 * reservation is voided (no usage); under `'charge'` the reserved cost and tokens are charged, on
 * the row and the counters alike. The hold rows are kept (state `expired`) for a week, so a late
 * settle can still record the real outcome once. Returns how many holds expired.
 */
export async function expireHolds(
  client: TransactionRunner & RawRunner,
  provider: SqlProvider,
  now: Date,
  mode: 'release' | 'charge' = 'release',
  filterTenantId?: string | null,
): Promise<number> {
  const p = (i: number) => placeholder(provider, i)
  // The common answer is "none": one indexed read instead of an interactive transaction.
  const due = (await client.$queryRawUnsafe(
    `SELECT 1 AS due FROM "llm_budget_holds" WHERE "state" = 'open' AND "expires_at" < ${p(1)}${filterTenantId ? ` AND "tenant_id" = ${p(2)}` : ''} LIMIT 1`,
    ...(filterTenantId ? [now, filterTenantId] : [now]),
  )) as unknown[]
  if (due.length === 0) return 0
  const charged = (column: string, cast: string) => `(SELECT CAST(h."${column}" AS ${cast}) FROM "llm_budget_holds" AS h WHERE h."id" = "llm_executions"."id")`
  const charge =
    mode === 'charge'
      ? `, "input_cost_nanos" = ${charged('cost_nanos', 'BIGINT')}, "total_cost_nanos" = ${charged('cost_nanos', 'BIGINT')}, "total_tokens" = ${charged('tokens', 'INTEGER')}`
      : ''
  const message =
    mode === 'charge'
      ? 'The hold expired before the call settled (holder crashed or exceeded holdTtlMs); charged its reservation (holdExpiry: charge)'
      : 'The hold expired before the call settled (holder crashed or exceeded holdTtlMs)'
  return (await client.$transaction(
    async (tx) => {
      const tenantFilter = filterTenantId ? ` AND "tenant_id" = ${p(2)}` : ''
      const holds = (await tx.$queryRawUnsafe(
        `UPDATE "llm_budget_holds" SET "state" = 'expired' WHERE "state" = 'open' AND "expires_at" < ${p(1)}${tenantFilter}
         RETURNING "id", "counters", "cost_nanos", "tokens", "state"`,
        ...(filterTenantId ? [now, filterTenantId] : [now]),
      )) as HoldRow[]
      if (holds.length === 0) return 0
      const deltas = holds.flatMap((h) => {
        const reserved = { cost: big(h.cost_nanos), tokens: big(h.tokens), executions: 1n }
        const spent = mode === 'charge' ? reserved : { cost: 0n, tokens: 0n, executions: 1n }
        return executionDeltas(JSON.parse(h.counters) as CounterKey[], spent, reserved)
      })
      await applyDeltas(tx, provider, mergeDeltas(deltas), now)
      for (let i = 0; i < holds.length; i += EXPIRE_CHUNK) {
        const ids = holds.slice(i, i + EXPIRE_CHUNK).map((h) => h.id)
        await tx.$executeRawUnsafe(
          `UPDATE "llm_executions" SET "status" = 'timeout', "error_class" = '${HOLD_EXPIRED_ERROR}', "error_message" = '${message}', "completed_at" = ${p(1)}${charge}
           WHERE "status" = 'running' AND "id" IN (${ids.map((_, j) => p(j + 2)).join(', ')})`,
          now,
          ...ids,
        )
      }
      // Expired holds are kept for late settles for a week, then dropped.
      await tx.$executeRawUnsafe(
        `DELETE FROM "llm_budget_holds" WHERE "state" = 'expired' AND "expires_at" < ${p(1)}`,
        new Date(now.getTime() - 7 * 86_400_000),
      )
      return holds.length
    },
    { maxWait: 10_000, timeout: 30_000 },
  )) as number
}
