/**
 * The settle step of one tracked call: its outcome (the reported usage — or, with no report, its
 * reservation — status, error, metadata), settled exactly once with retries; kept in memory and
 * written later when the database is unreachable (pending-settles.ts); then the spent cache and the
 * soft-limit alerts see the counters it returned.
 */
import type { LlmConfig } from '../config/config.js'
import { emitBudgetEvent } from '../config/events.js'
import type { RawRunner, SqlProvider, TransactionRunner } from '../db/client.js'
import type { Decimal } from '../foundation/money.js'
import { redactMetadata, redactText } from '../foundation/redact.js'
import type { JsonValue } from '../foundation/validation.js'
import { keyId, type CounterKey } from '../ledger/counters/keys.js'
import { claimAlert, type CounterRow } from '../ledger/counters/statements.js'
import type { ExecutionOutcome } from '../ledger/record.js'
import type { NormalizedUsage, ValidatedCall } from './call.js'
import type { PendingSettles } from './perf/pending-settles.js'
import type { SpentCache } from './perf/spent-cache.js'
import type { EffectivePolicy } from './policy.js'
import { refusalError } from './reserve.js'
import { settle } from './settle.js'
import { errorFields, logTo } from '../telemetry/options.js'
import { tokenSettles, type RateDelta } from '../rate-limits/statements.js'
import type { Admitted } from './tenant.js'

/** A refusal's figure as event text: dollars without exponent notation, or the count. */
export const figureText = (v: Decimal | number): string => (typeof v === 'number' ? String(v) : v.toFixed())

/** The distinct keys the policy enforces (a key can carry a cost, a token and an execution limit). */
function checkedKeys(policy: EffectivePolicy): CounterKey[] {
  const keys: CounterKey[] = []
  for (const c of policy.checks) if (c.enforcement !== 'none' && !keys.includes(c.key)) keys.push(c.key)
  return keys
}

/** The final values of a call's ledger row. No report = charged the reservation (never a bypass). */
export function callOutcome(
  request: ValidatedCall,
  startedAt: Date,
  completedAt: Date,
  status: ExecutionOutcome['status'],
  usage: NormalizedUsage | undefined,
  error: unknown,
): ExecutionOutcome {
  const u = usage ?? {
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    totalTokens: Number(request.estimateTokens),
    inputCostNanos: request.estimateCost,
    outputCostNanos: 0n,
    totalCostNanos: request.estimateCost,
  }
  const err = error as { name?: string; message?: string } | null
  const callMetadata = (request.metadata as Record<string, unknown> | null) ?? {}
  return {
    status,
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    cachedInputTokens: u.cachedInputTokens,
    totalTokens: u.totalTokens,
    inputCostNanos: u.inputCostNanos,
    outputCostNanos: u.outputCostNanos,
    totalCostNanos: u.totalCostNanos,
    model: usage?.model ?? request.model,
    completedAt,
    durationMs: Math.max(0, completedAt.getTime() - startedAt.getTime()),
    errorClass: error ? redactText(String(err?.name ?? 'Error')).slice(0, 255) : null,
    errorMessage: error ? redactText(String(err?.message ?? error)).slice(0, 4000) : null,
    metadata: usage
      ? usage.metadata
        ? (redactMetadata({ ...callMetadata, ...usage.metadata }) as JsonValue)
        : null
      : (redactMetadata({ ...callMetadata, usageReported: false }) as JsonValue),
  }
}

export interface SettleContext {
  client: TransactionRunner & RawRunner
  provider: SqlProvider
  config: LlmConfig
  spent: SpentCache
  pending: PendingSettles
}

/**
 * Settles a call's outcome (three tries, then pending), then feeds the spent cache and soft alerts.
 * Resolves true when written now, false when kept in pending settles.
 */
export async function settleCall(
  s: SettleContext,
  executionId: string,
  admitted: Admitted,
  request: ValidatedCall,
  rates: readonly RateDelta[],
  outcome: ExecutionOutcome,
): Promise<boolean> {
  const held = { keys: admitted.keys, cost: request.estimateCost, tokens: request.estimateTokens, watched: checkedKeys(admitted.policy) }
  // Token windows held the estimate: they settle to the actual, like the budgets.
  const rateSettles = tokenSettles(rates, request.estimateTokens, BigInt(outcome.totalTokens))
  const settleOutcome = async () => {
    const result = await settle(s.client, s.provider, executionId, outcome, s.config.timeZone, s.config.now(), held, rateSettles)
    s.spent.observe(result.counters)
    if (result.settled) await emitSoftEvents(s, admitted, result.counters, s.config.now())
  }
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await settleOutcome()
      return true
    } catch (e) {
      lastError = e
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt))
    }
  }
  // The caller's result is not thrown away for a bookkeeping failure: the outcome is kept and
  // settled when the database is back (pending-settles.ts); a settle after the hold expired is
  // still accepted once.
  s.pending.add({ executionId, settle: settleOutcome })
  logTo(
    s.config.logger,
    'warn',
    { executionId, status: outcome.status, ...errorFields(lastError) },
    'Settle failed three times: the outcome is kept and retried',
  )
  s.config.events.emit('settle_failed', { executionId, error: lastError, outcome, pending: true })
  return false
}

/** `soft_limit_reached`, once per soft limit and bucket (claimed in the database, so across processes). */
async function emitSoftEvents(s: SettleContext, admitted: Admitted, rows: CounterRow[], at: Date): Promise<void> {
  if (!admitted.policy.checks.some((c) => c.enforcement === 'soft')) return
  const byId = new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
  for (const check of admitted.policy.checks) {
    if (check.enforcement !== 'soft') continue
    const row = byId.get(keyId(check.key))
    if (!row) continue
    const used =
      check.measure === 'cost'
        ? row.spentCost
        : check.measure === 'tokens'
          ? row.spentTokens
          : row.spentExecutions + (check.limitType === 'maxConcurrent' ? row.reservedExecutions : 0n)
    if (used < check.limit || (check.limit === 0n && used === 0n)) continue
    if (!(await claimAlert(s.client, s.provider, check.key, check.limitType))) continue
    const e = refusalError({ ...check, current: used }, admitted.agentType, at, s.config.timeZone)
    emitBudgetEvent(s.config, {
      type: 'soft_limit_reached',
      scope: e.scope,
      limitType: check.limitType,
      limit: figureText(e.limit),
      current: figureText(e.current),
      tenantId: e.tenantId,
      agentType: e.agentType,
      bucket: check.key[4],
      at,
    })
  }
}
