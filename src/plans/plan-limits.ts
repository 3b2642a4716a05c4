/**
 * What a plan version contributes to a tenant's policy (storage units), and reading it off an
 * `llm_plans` row. The policy step takes it between the tenant's own values and the global ones.
 */
import { LIMIT_COLUMNS, LIMIT_TYPES, type AgentLimitValues, type Enforcement, type LimitValues } from '../config/limits.js'
import { agentRateLimitsFromJson, rateLimitsFromJson, type AgentRateLimitValues, type RateLimitValues } from '../config/rate-limits.js'

export interface PlanLimits {
  planId: string
  key: string
  version: number
  name: string
  /** null = the plan sets no such limit (the global value applies, if the tenant inherits). */
  limits: LimitValues
  maxConcurrent: bigint | null
  agentLimits: AgentLimitValues
  rateLimits: RateLimitValues
  agentRateLimits: AgentRateLimitValues
  enforcement: Enforcement | null
}

/** One assignment of a tenant to a plan version, with the version's limits. */
export interface AssignedPlan {
  assignmentId: string
  effectiveFrom: Date
  /** null = until further notice. */
  effectiveTo: Date | null
  plan: PlanLimits
}

const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : typeof v === 'bigint' ? v : BigInt(String(v)))

/** A plan row (Prisma field names) → its limits. */
export function planLimitsOf(row: Record<string, unknown>): PlanLimits {
  const agentLimits: AgentLimitValues = {}
  for (const [agent, l] of Object.entries((row.agentLimits as Record<string, { dailyCost?: unknown; monthlyCost?: unknown }> | null) ?? {})) {
    agentLimits[agent] = { dailyCost: big(l?.dailyCost ?? null), monthlyCost: big(l?.monthlyCost ?? null) }
  }
  return {
    planId: String(row.id),
    key: String(row.key),
    version: Number(row.version),
    name: String(row.name),
    limits: Object.fromEntries(LIMIT_TYPES.map((t) => [t, big(row[LIMIT_COLUMNS[t]])])) as LimitValues,
    maxConcurrent: big(row.maxConcurrent),
    agentLimits,
    rateLimits: rateLimitsFromJson(row.rateLimits),
    agentRateLimits: agentRateLimitsFromJson(row.agentRateLimits),
    enforcement: (row.enforcement as Enforcement | null) ?? null,
  }
}

/** The plan in force at `at`: the assignment with effectiveFrom <= at < effectiveTo. */
export function planAt(assignments: readonly AssignedPlan[], at: Date): AssignedPlan | null {
  const t = at.getTime()
  let found: AssignedPlan | null = null
  for (const a of assignments) {
    if (a.effectiveFrom.getTime() <= t && (a.effectiveTo === null || t < a.effectiveTo.getTime())) found = a
  }
  return found
}
