/**
 * Recording: validates an execution completely (nothing is written on bad input), redacts its
 * metadata, converts money to integer nanos and maps it to the ledger row.
 */
import { randomUUID } from 'node:crypto'
import { InvalidArgumentError } from '../foundation/errors.js'
import { MAX_NANOS, nanosToUsd, usdToNanos } from '../foundation/money.js'
import { redactText } from '../foundation/redact.js'
import { assertDate, assertIdentifier, assertTenantId, assertTokenCount, MAX_TOKENS, toMetadataJson } from '../foundation/validation.js'
import { EXECUTION_STATUSES, type ExecutionFields, type ExecutionRecord, type ExecutionStatus, type RecordExecutionInput } from './types.js'
import type { JsonValue } from '../foundation/validation.js'

const MAX_TEXT = 10_000
const MAX_ERROR_MESSAGE = 4_000

function optionalText(value: unknown, field: string, max = MAX_TEXT): string | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'string') throw new InvalidArgumentError(field, 'a string or null', value)
  return value.length > max ? value.slice(0, max) : value
}

const RECORD_KEYS = new Set<string>([
  'id',
  'tenantId',
  'agentType',
  'provider',
  'model',
  'status',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'totalTokens',
  'inputCost',
  'outputCost',
  'totalCost',
  'durationMs',
  'startedAt',
  'completedAt',
  'errorClass',
  'errorMessage',
  'traceId',
  'parentId',
  'apiKeyId',
  'metadata',
])

/** The usage columns of a ledger row: token counts and integer nano-USD costs. */
export interface UsageColumns {
  inputTokens: number
  outputTokens: number
  cachedInputTokens: number
  totalTokens: number
  inputCostNanos: bigint
  outputCostNanos: bigint
  totalCostNanos: bigint
}

/** The final values a settle writes onto a `running` ledger row. */
export interface ExecutionOutcome extends UsageColumns {
  status: Exclude<ExecutionStatus, 'running' | 'refused'>
  model: string
  completedAt: Date
  durationMs: number | null
  errorClass: string | null
  errorMessage: string | null
  metadata: JsonValue | null
}

/** The row written to `llm_executions` (Prisma field names): money as integer nano-USD. */
export interface ExecutionRow extends ExecutionFields, UsageColumns {}

export function toExecutionRow(input: RecordExecutionInput, now: Date, path = 'execution'): ExecutionRow {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(path, 'an object describing one execution', input)
  }
  for (const key of Object.keys(input)) {
    if (!RECORD_KEYS.has(key)) throw new InvalidArgumentError(key, `one of: ${[...RECORD_KEYS].join(', ')}`, key)
  }
  const status = input.status ?? 'success'
  if (!(EXECUTION_STATUSES as readonly string[]).includes(status)) {
    throw new InvalidArgumentError('status', EXECUTION_STATUSES.join(', '), status)
  }
  const inputTokens = assertTokenCount(input.inputTokens ?? 0, 'inputTokens')
  const outputTokens = assertTokenCount(input.outputTokens ?? 0, 'outputTokens')
  const cachedInputTokens = assertTokenCount(input.cachedInputTokens ?? 0, 'cachedInputTokens')
  const totalTokens = assertTokenCount(input.totalTokens ?? inputTokens + outputTokens, 'totalTokens')
  const inputCostNanos = usdToNanos(input.inputCost ?? 0, 'inputCost')
  const outputCostNanos = usdToNanos(input.outputCost ?? 0, 'outputCost')
  const totalCostNanos = input.totalCost === undefined ? inputCostNanos + outputCostNanos : usdToNanos(input.totalCost, 'totalCost')
  if (totalCostNanos > MAX_NANOS) throw new InvalidArgumentError('totalCost', `at most $${nanosToUsd(MAX_NANOS).toFixed()}`, totalCostNanos)

  let durationMs: number | null = null
  if (input.durationMs !== undefined && input.durationMs !== null) {
    if (typeof input.durationMs !== 'number' || !Number.isInteger(input.durationMs) || input.durationMs < 0 || input.durationMs > MAX_TOKENS) {
      throw new InvalidArgumentError('durationMs', `an integer from 0 to ${MAX_TOKENS} or null`, input.durationMs)
    }
    durationMs = input.durationMs
  }
  const startedAt = input.startedAt === undefined ? now : assertDate(input.startedAt, 'startedAt')
  let completedAt: Date | null
  if (input.completedAt !== undefined) {
    completedAt = input.completedAt === null ? null : assertDate(input.completedAt, 'completedAt')
  } else if (status === 'running') {
    completedAt = null
  } else {
    completedAt = durationMs !== null ? new Date(startedAt.getTime() + durationMs) : now
  }
  if (completedAt && completedAt.getTime() < startedAt.getTime()) {
    throw new InvalidArgumentError('completedAt', `a Date not before startedAt (${startedAt.toISOString()})`, completedAt)
  }
  if (durationMs === null && completedAt) {
    // Derived only when it fits the INTEGER column (a backfilled row can span weeks).
    const derived = completedAt.getTime() - startedAt.getTime()
    durationMs = derived <= MAX_TOKENS ? derived : null
  }

  const errorMessage = optionalText(input.errorMessage, 'errorMessage', MAX_ERROR_MESSAGE)
  return {
    id: input.id === undefined ? randomUUID() : assertIdentifier(input.id, 'id', 191),
    tenantId: assertTenantId(input.tenantId),
    agentType: assertIdentifier(input.agentType, 'agentType', 255),
    provider: input.provider === null || input.provider === undefined ? null : assertIdentifier(input.provider, 'provider', 255),
    model: assertIdentifier(input.model, 'model', 255),
    status,
    inputTokens,
    outputTokens,
    cachedInputTokens,
    totalTokens,
    inputCostNanos,
    outputCostNanos,
    totalCostNanos,
    durationMs,
    startedAt,
    completedAt,
    errorClass: optionalText(input.errorClass, 'errorClass', 255),
    errorMessage: errorMessage === null ? null : redactText(errorMessage),
    traceId: optionalText(input.traceId, 'traceId', 191),
    parentId: optionalText(input.parentId, 'parentId', 191),
    apiKeyId: optionalText(input.apiKeyId, 'apiKeyId', 191),
    metadata: toMetadataJson(input.metadata),
  }
}

/** Maps a row read through Prisma back to the API shape (money → Decimal dollars). */
export function toExecutionRecord(row: Record<string, unknown>): ExecutionRecord {
  return {
    id: row.id as string,
    tenantId: (row.tenantId as string | null) ?? null,
    agentType: row.agentType as string,
    provider: (row.provider as string | null) ?? null,
    model: row.model as string,
    status: row.status as ExecutionStatus,
    inputTokens: row.inputTokens as number,
    outputTokens: row.outputTokens as number,
    cachedInputTokens: row.cachedInputTokens as number,
    totalTokens: row.totalTokens as number,
    inputCost: nanosToUsd(row.inputCostNanos as bigint),
    outputCost: nanosToUsd(row.outputCostNanos as bigint),
    totalCost: nanosToUsd(row.totalCostNanos as bigint),
    durationMs: (row.durationMs as number | null) ?? null,
    startedAt: row.startedAt as Date,
    completedAt: (row.completedAt as Date | null) ?? null,
    errorClass: (row.errorClass as string | null) ?? null,
    errorMessage: (row.errorMessage as string | null) ?? null,
    traceId: (row.traceId as string | null) ?? null,
    parentId: (row.parentId as string | null) ?? null,
    apiKeyId: (row.apiKeyId as string | null) ?? null,
    metadata: (row.metadata as JsonValue | null) ?? null,
  }
}
