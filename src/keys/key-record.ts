/** Tenant API key input (validated before anything is written) and the record the API returns. */
import { LIMIT_COLUMNS, LIMIT_TYPES, limitsFromRow, limitsToColumns, type Limits, type LimitsInput, type LimitValues } from '../config/limits.js'
import {
  parseRateLimits,
  rateLimitsAsNumbers,
  rateLimitsFromJson,
  rateLimitsToJson,
  type RateLimitKey,
  type RateLimitsInput,
  type RateLimitValues,
} from '../config/rate-limits.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { redactMetadata } from '../foundation/redact.js'
import { assertDate, assertIdentifier, assertQuery, type JsonValue } from '../foundation/validation.js'

export interface ApiKeyInput {
  /** e.g. 'production', 'staging' (1–100 characters). */
  name: string
  /** When the key stops working; null/omitted = never. */
  expiresAt?: Date | string | null
  /** Budget limits of this key alone (its calls still count toward the tenant's). */
  limits?: LimitsInput | null
  /** Rate limits of this key alone (`{ requestsPerMinute, … }`). */
  rateLimits?: RateLimitsInput | null
  metadata?: Record<string, unknown> | null
}

export type ApiKeyChanges = Partial<Omit<ApiKeyInput, 'expiresAt'>> & { expiresAt?: Date | string | null }

export interface ApiKeyRecord {
  /** Stable across rotations: usage, budgets and rate limits are kept by this id. */
  id: string
  tenantId: string
  name: string
  /** The visible start of the current secret (`sk_live_a1B2`). */
  start: string
  createdAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  lastUsedAt: Date | null
  /** Set on a rotated-out secret: the key it was rotated into (it works until its revokedAt). */
  replacedBy: string | null
  limits: Limits
  rateLimits: Partial<Record<RateLimitKey, number | null>>
  metadata: JsonValue | null
}

const INPUT_KEYS = ['name', 'expiresAt', 'limits', 'rateLimits', 'metadata'] as const

/** Validates key input and maps it to columns (only the fields present). */
export function apiKeyToColumns(input: unknown, field: string, requireName: boolean): Record<string, unknown> {
  assertQuery(input, INPUT_KEYS, field)
  const i = input as ApiKeyChanges
  const data: Record<string, unknown> = {}
  if (i.name !== undefined || requireName) data.name = assertIdentifier(i.name, `${field}.name`, 100)
  if (i.expiresAt !== undefined) data.expiresAt = i.expiresAt === null ? null : assertDate(i.expiresAt, `${field}.expiresAt`)
  if (i.limits !== undefined) {
    const cols = i.limits === null ? Object.fromEntries(LIMIT_TYPES.map((t) => [LIMIT_COLUMNS[t], null])) : limitsToColumns(i.limits, `${field}.limits`)
    Object.assign(data, cols)
  }
  // {} rather than null: Prisma rejects a bare null for Json columns.
  if (i.rateLimits !== undefined) data.rateLimits = i.rateLimits === null ? {} : rateLimitsToJson(parseRateLimits(i.rateLimits, `${field}.rateLimits`))
  if (i.metadata !== undefined) {
    if (i.metadata !== null && (typeof i.metadata !== 'object' || Array.isArray(i.metadata))) {
      throw new InvalidArgumentError(`${field}.metadata`, 'a plain JSON object or null', i.metadata)
    }
    data.metadata = i.metadata === null ? {} : redactMetadata(i.metadata)
  }
  return data
}

export function toApiKeyRecord(row: Record<string, unknown>): ApiKeyRecord {
  return {
    id: row.id as string,
    tenantId: row.tenantId as string,
    name: row.name as string,
    start: row.start as string,
    createdAt: row.createdAt as Date,
    expiresAt: (row.expiresAt as Date | null) ?? null,
    revokedAt: (row.revokedAt as Date | null) ?? null,
    lastUsedAt: (row.lastUsedAt as Date | null) ?? null,
    replacedBy: (row.replacedBy as string | null) ?? null,
    limits: limitsFromRow(row),
    rateLimits: rateLimitsAsNumbers(rateLimitsFromJson(row.rateLimits)),
    metadata: (row.metadata as JsonValue | null) ?? null,
  }
}

/** The audited view of a key: everything but the hash (the secret is never in the row at all). */
export function auditedKey(record: ApiKeyRecord): Record<string, unknown> {
  const { createdAt: _c, lastUsedAt: _l, ...rest } = record
  return rest
}

/** What admission needs of a key (storage units). */
export interface ApiKeyLimits {
  id: string
  tenantId: string
  limits: LimitValues
  rateLimits: RateLimitValues
}

const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : typeof v === 'bigint' ? v : BigInt(String(v)))

export function apiKeyLimits(row: Record<string, unknown>): ApiKeyLimits {
  return {
    id: row.id as string,
    tenantId: row.tenantId as string,
    limits: Object.fromEntries(LIMIT_TYPES.map((t) => [t, big(row[LIMIT_COLUMNS[t]])])) as LimitValues,
    rateLimits: rateLimitsFromJson(row.rateLimits),
  }
}
