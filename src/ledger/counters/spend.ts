/**
 * Spend deltas: how settled ledger rows move counters. Shared by settle (one call), direct ledger
 * recording (apps that call providers themselves) and hold expiry, so every path that changes the
 * ledger changes the counters the same way — which is what keeps counters == ledger.
 */
import type { LlmConfig } from '../../config/config.js'
import { compareKeys, counterKeysFor, keyId, type CounterKey } from './keys.js'
import type { Delta } from './statements.js'
import { UNCOUNTED_STATUSES, type ExecutionStatus } from '../types.js'

export interface SpendFigures {
  cost: bigint
  tokens: bigint
  executions: bigint
}

/** Merges deltas that target the same counter row (a batch can touch a row many times). */
export function mergeDeltas(deltas: Delta[]): Delta[] {
  const byKey = new Map<string, Delta>()
  const fields = ['spentCost', 'spentTokens', 'spentExecutions', 'reservedCost', 'reservedTokens', 'reservedExecutions'] as const
  for (const d of deltas) {
    const id = keyId(d.key)
    const acc = byKey.get(id)
    if (!acc) {
      byKey.set(id, { ...d })
      continue
    }
    for (const f of fields) acc[f] = (acc[f] ?? 0n) + (d[f] ?? 0n)
  }
  // The one global lock order (compareKeys), the same as admission's and settle's: no deadlocks between them.
  return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key))
}

/**
 * Deltas for one execution: `released` is the open hold being dropped (reserved −), `spent` the
 * settled figures (spent +). In-flight rows only ever carry reservations.
 */
export function executionDeltas(keys: readonly CounterKey[], spent: SpendFigures, released: SpendFigures | null): Delta[] {
  return keys.map((key) => {
    const inflight = key[3] === 'inflight'
    return {
      key,
      spentCost: inflight ? 0n : spent.cost,
      spentTokens: inflight ? 0n : spent.tokens,
      spentExecutions: inflight ? 0n : spent.executions,
      reservedCost: released ? -released.cost : 0n,
      reservedTokens: released ? -released.tokens : 0n,
      reservedExecutions: released ? -released.executions : 0n,
    }
  })
}

/** Deltas for ledger rows recorded directly (no hold): spent only, per row's own buckets. */
export function recordedRowDeltas(
  config: LlmConfig,
  rows: ReadonlyArray<{ tenantId: string | null; agentType: string; startedAt: Date; status: ExecutionStatus; totalCostNanos: bigint; totalTokens: number }>,
): Delta[] {
  const deltas: Delta[] = []
  for (const row of rows) {
    if (UNCOUNTED_STATUSES.includes(row.status)) continue // running: counted when it settles; refused: consumed nothing
    const keys = counterKeysFor(row.tenantId, row.agentType, row.startedAt, config.timeZone).filter((k) => k[3] !== 'inflight')
    deltas.push(...executionDeltas(keys, { cost: row.totalCostNanos, tokens: BigInt(row.totalTokens), executions: 1n }, null))
  }
  return mergeDeltas(deltas)
}

/** What admission reserved, known in-process: lets PostgreSQL settle in one statement. */
export interface HeldReservation {
  keys: CounterKey[]
  cost: bigint
  tokens: bigint
  /**
   * The rows the caller needs back (those with a limit check: the spent cache and soft alerts look
   * at nothing else). Only SQLite's fast path uses it — reading a row back costs it ~3 µs, where
   * PostgreSQL's RETURNING comes with its update. Default: every row.
   */
  watched?: readonly CounterKey[]
}
