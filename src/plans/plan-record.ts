/** Plans and assignments as the API returns them: money as Decimal, limits as numbers or Decimal. */
import { limitsFromRow, type Enforcement, type Limits } from '../config/limits.js'
import { agentRateLimitsFromJson, rateLimitsAsNumbers, rateLimitsFromJson, type RateLimitKey } from '../config/rate-limits.js'
import { Decimal, nanosToUsd } from '../foundation/money.js'
import type { JsonValue } from '../foundation/validation.js'
import { sessionLimitsFromJson } from '../config/session-limits.js'

export interface PlanPrices {
  currency: string
  baseFee: Decimal | null
  includedTokens: number | null
  includedCost: Decimal | null
  overagePer1kTokens: Decimal | null
  /** Percent (20 = +20%). */
  costMarkup: Decimal | null
}

export interface PlanRecord {
  id: string
  key: string
  version: number
  name: string
  description: string | null
  limits: Limits
  maxConcurrent: number | null
  agentLimits: Record<string, { dailyCost: Decimal | null; monthlyCost: Decimal | null }>
  rateLimits: Partial<Record<RateLimitKey, number | null>>
  agentRateLimits: Record<string, Partial<Record<RateLimitKey, number | null>>>
  enforcement: Enforcement | null
  prices: PlanPrices
  /** Conversation-store limits the plan sets (a key absent = the store's default; null = none). */
  sessions: { maxItems?: number | null; maxAge?: number | null; storageBytes?: number | null }
  metadata: JsonValue | null
  createdAt: Date
}

export interface PlanAssignment {
  id: string
  tenantId: string
  planKey: string
  planVersion: number
  effectiveFrom: Date
  /** null = until changed. */
  effectiveTo: Date | null
}

const money = (v: unknown) => (v === null || v === undefined ? null : nanosToUsd(v as bigint))

function sessionsOf(json: unknown): PlanRecord['sessions'] {
  const { storageBytes, ...rest } = sessionLimitsFromJson(json)
  return storageBytes === undefined ? rest : { ...rest, storageBytes: storageBytes === null ? null : Number(storageBytes) }
}

export function toPlanRecord(row: Record<string, unknown>): PlanRecord {
  const agentLimits = (row.agentLimits as Record<string, { dailyCost: string | null; monthlyCost: string | null }> | null) ?? {}
  return {
    id: row.id as string,
    key: row.key as string,
    version: Number(row.version),
    name: row.name as string,
    description: (row.description as string | null) ?? null,
    limits: limitsFromRow(row),
    maxConcurrent: row.maxConcurrent === null || row.maxConcurrent === undefined ? null : Number(row.maxConcurrent),
    agentLimits: Object.fromEntries(Object.entries(agentLimits).map(([a, l]) => [a, { dailyCost: money(l.dailyCost), monthlyCost: money(l.monthlyCost) }])),
    rateLimits: rateLimitsAsNumbers(rateLimitsFromJson(row.rateLimits)),
    agentRateLimits: Object.fromEntries(Object.entries(agentRateLimitsFromJson(row.agentRateLimits)).map(([a, v]) => [a, rateLimitsAsNumbers(v)])),
    enforcement: (row.enforcement as Enforcement | null) ?? null,
    prices: {
      currency: row.currency as string,
      baseFee: money(row.baseFeeNanos),
      includedTokens: row.includedTokens === null || row.includedTokens === undefined ? null : Number(row.includedTokens),
      includedCost: money(row.includedCostNanos),
      overagePer1kTokens: money(row.overagePer1kTokensNanos),
      costMarkup: row.costMarkupPpm === null || row.costMarkupPpm === undefined ? null : new Decimal(String(row.costMarkupPpm)).dividedBy(10_000),
    },
    sessions: sessionsOf(row.sessionLimits),
    metadata: (row.metadata as JsonValue | null) ?? null,
    createdAt: row.createdAt as Date,
  }
}

export function toAssignment(row: Record<string, unknown>): PlanAssignment {
  return {
    id: row.id as string,
    tenantId: row.tenantId as string,
    planKey: row.planKey as string,
    planVersion: Number(row.planVersion),
    effectiveFrom: row.effectiveFrom as Date,
    effectiveTo: (row.effectiveTo as Date | null) ?? null,
  }
}
