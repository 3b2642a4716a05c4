/**
 * Refusals are ledger rows — one rule for every path (`track`, agents, streams): a call refused
 * before the provider was contacted (a hard budget, an inactive tenant, an open circuit breaker, a
 * missing provider key) is recorded with status `refused`, zero usage, its error class and message.
 * The status is the fact: usage, cost and count queries, top spenders, budgets, counters and
 * refreshCounters leave `refused` rows out (unless a query asks for them with `includeRefused`),
 * and `refusedExecutions` lists them. Nothing infers a refusal from an error's class name.
 *
 * The insert is best-effort and coalesced (insertRefusalRow): at most one such statement per client
 * is in flight, so a tenant refused in a loop cannot queue a statement per refusal ahead of other
 * tenants' work; a refusal whose row cannot be written (database down) is still thrown as itself.
 */
import { errorFields, logTo, type LlmLogger } from '../telemetry/options.js'
import type { LlmPrismaClient, SqlProvider, TransactionRunner } from '../db/client.js'
import { insertExecutionRows, insertRefusalRow } from '../ledger/insert.js'
import { forgetUsageDays, mayLandInStoredDay } from '../ledger/usage-days.js'
import { toExecutionRow } from '../ledger/record.js'
import type { JsonValue } from '../foundation/validation.js'
import type { RawRunner } from '../db/client.js'
import { REFUSAL_REASONS } from '../telemetry/names.js'
import type { RefusalInfo } from '../telemetry/telemetry.js'
import { BudgetExceededError, RateLimitExceededError, TenantInactiveError } from './errors.js'

export interface RefusedCall {
  /** The refused call's execution id (generated when omitted). */
  executionId?: string
  tenantId: string | null
  agentType: string
  model: string
  provider?: string | null
  traceId?: string | null
  parentId?: string | null
  apiKeyId?: string | null
  /** Already validated and redacted metadata of the call. */
  metadata?: JsonValue | null
  /** The call's one instant: its ledger row's startedAt. */
  at: Date
}

/**
 * Writes the refusal row of `call` (status `refused`); returns its execution id. With `now` (the
 * writer's clock) a refusal dated where the day rollup may already have stored its day (an older
 * `at`) is written, not coalesced, in one transaction with the deletion of that stored day.
 */
export async function recordRefusal(
  client: RawRunner & TransactionRunner,
  provider: SqlProvider,
  call: RefusedCall,
  err: Error,
  now?: Date,
  logger?: LlmLogger,
): Promise<string> {
  const row = toExecutionRow(
    {
      id: call.executionId,
      tenantId: call.tenantId,
      agentType: call.agentType,
      model: call.model,
      provider: call.provider ?? null,
      status: 'refused',
      startedAt: call.at,
      completedAt: call.at,
      errorClass: err.name,
      errorMessage: err.message,
      traceId: call.traceId ?? null,
      parentId: call.parentId ?? null,
      apiKeyId: call.apiKeyId ?? null,
      metadata: (call.metadata as Record<string, unknown> | null | undefined) ?? null,
    },
    call.at,
  )
  const write =
    now !== undefined && mayLandInStoredDay(call.at, now)
      ? client.$transaction(async (tx) => {
          await insertExecutionRows(tx, provider, [row], call.at)
          await forgetUsageDays(tx as unknown as LlmPrismaClient, provider, [call.at], now)
        })
      : insertRefusalRow(client, provider, row)
  // The refusal stands without its row (the caller gets its typed error either way); say so.
  await write.catch((e) => logTo(logger, 'warn', { executionId: row.id, ...errorFields(e) }, 'Writing a refusal row failed'))
  return row.id
}

/**
 * What telemetry says about a refusal (`llm_tenant.refusal.reason`): the budget's limit type, the
 * rate window, an inactive tenant — or, for the runtime's own refusals, their error code
 * (`circuit_open`, `missing_api_key`).
 */
export function refusalInfo(executionId: string, err: Error): RefusalInfo {
  if (err instanceof BudgetExceededError) {
    const retryAfterMs = err.retryAfterSeconds === null ? null : err.retryAfterSeconds * 1000
    return { executionId, reason: err.limitType, scope: err.scope, retryAfterMs }
  }
  if (err instanceof RateLimitExceededError) {
    return { executionId, reason: REFUSAL_REASONS.rateLimit, scope: err.scope, rateLimitName: err.limitName, retryAfterMs: err.retryAfterMs }
  }
  if (err instanceof TenantInactiveError) return { executionId, reason: REFUSAL_REASONS.tenantInactive }
  const code = (err as { code?: unknown }).code
  return { executionId, reason: typeof code === 'string' ? code.toLowerCase() : err.name }
}
