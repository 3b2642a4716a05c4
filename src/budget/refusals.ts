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
import type { SqlProvider } from '../db/client.js'
import { insertRefusalRow } from '../ledger/insert.js'
import { toExecutionRow } from '../ledger/record.js'
import type { JsonValue } from '../foundation/validation.js'
import type { RawRunner } from '../db/client.js'

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

/** Writes the refusal row of `call` (status `refused`); returns its execution id. */
export async function recordRefusal(client: RawRunner, provider: SqlProvider, call: RefusedCall, err: Error): Promise<string> {
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
  await insertRefusalRow(client, provider, row).catch(() => undefined)
  return row.id
}
