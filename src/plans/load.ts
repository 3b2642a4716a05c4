/**
 * Loading a tenant's plan assignments for admission: the one in force and any scheduled one
 * (`at: 'period_end'` changes), with each version's limits — two indexed reads, cached with the
 * tenant row (budget/tenant.ts), so a scheduled change takes effect at its instant with no reload.
 */
import type { LlmPrismaClient } from '../db/client.js'
import { planLimitsOf, type AssignedPlan } from './plan-limits.js'

/** Assignments of `tenantId` that have not ended by `now`, oldest first. */
export async function loadPlanAssignments(client: LlmPrismaClient, tenantId: string, now: Date): Promise<AssignedPlan[]> {
  const assignments = (await client.llmTenantPlan.findMany({
    where: { tenantId, OR: [{ effectiveTo: null }, { effectiveTo: { gt: now } }] },
    orderBy: [{ effectiveFrom: 'asc' }, { createdAt: 'asc' }],
  })) as Array<{ id: string; planId: string; effectiveFrom: Date; effectiveTo: Date | null }>
  if (assignments.length === 0) return []
  const plans = (await client.llmPlan.findMany({ where: { id: { in: [...new Set(assignments.map((a) => a.planId))] } } })) as Array<Record<string, unknown>>
  const byId = new Map(plans.map((p) => [String(p.id), planLimitsOf(p)]))
  return assignments.flatMap((a) => {
    const plan = byId.get(a.planId)
    return plan ? [{ assignmentId: a.id, effectiveFrom: a.effectiveFrom, effectiveTo: a.effectiveTo, plan }] : []
  })
}
