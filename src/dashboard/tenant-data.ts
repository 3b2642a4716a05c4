/**
 * One tenant's page: usage by zone-local day (the ledger's usageByDay: the tenant's index range,
 * which carries the figures, folded into days of the configured zone), by agent, model and API key
 * (one grouped read of the tenant's rows in the period), budget and rate-limit status with each
 * value's source (the admission pipeline's own status), plan and its history, keys, the audit trail
 * and recent / failed executions — all within this one tenant's index ranges.
 */
import type { AuditEventRecord } from '../audit/log.js'
import type { BudgetStatus } from '../budget/status.js'
import type { RateWindowStatus } from '../budget/rate-status.js'
import { type nanosToUsd, toNanos } from '../foundation/money.js'
import { resolvePeriod, type ResolvedPeriod } from '../foundation/periods.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import type { ExecutionRecord } from '../ledger/types.js'
import type { PlanAssignment, PlanRecord } from '../plans/plan-record.js'
import type { TenantRecord } from '../tenant/store.js'
import type { DashboardServices } from './context.js'
import type { DashboardPeriod } from './input.js'
import { dayRanges, figuresOf, type Figures } from './overview.js'

export interface Breakdown extends Figures {
  key: string
}

export interface TenantDetail {
  tenant: TenantRecord
  period: ResolvedPeriod
  totals: Figures
  chart: { days: string[]; cost: number[]; executions: number[] }
  byAgent: Breakdown[]
  byModel: Breakdown[]
  byKey: Array<Breakdown & { name: string | null }>
  status: BudgetStatus
  windows: RateWindowStatus[]
  current: { plan: PlanRecord; assignment: PlanAssignment; scheduled: PlanAssignment | null } | null
  history: PlanAssignment[]
  plans: PlanRecord[]
  keys: ApiKeyRecord[]
  audit: { events: AuditEventRecord[]; nextCursor: string | null }
  recent: ExecutionRecord[]
  failed: ExecutionRecord[]
}

type Grouped = {
  agentType: string
  model: string
  apiKeyId: string | null
  status: string
  _sum: { totalCostNanos?: unknown; totalTokens?: unknown }
  _count: { _all: number }
}

/** The period of a tenant page: a named one, or the 30 days ending today. */
export function periodOf(s: DashboardServices, name: DashboardPeriod): ResolvedPeriod {
  if (name !== 'last_30_days') return resolvePeriod(name, s.config)
  const { today, chartStart } = dayRanges(s.config.now(), s.config.timeZone)
  return resolvePeriod({ from: chartStart, to: today.to }, s.config)
}

function breakdown(groups: Grouped[], keyOf: (g: Grouped) => string): Breakdown[] {
  const by = new Map<string, Grouped[]>()
  for (const g of groups) by.set(keyOf(g), [...(by.get(keyOf(g)) ?? []), g])
  return [...by.entries()]
    .map(([key, list]) => ({ key, ...figuresOf(list.map(toRow)) }))
    .sort((a, b) => b.cost.comparedTo(a.cost) || Number(b.executions - a.executions) || a.key.localeCompare(b.key))
}

const toRow = (g: Grouped) => ({
  status: g.status,
  costNanos: toNanos(g._sum.totalCostNanos),
  tokens: toNanos(g._sum.totalTokens),
  executions: BigInt(g._count._all),
})

/**
 * The rate windows a session may see: a tenant session sees its own windows only — a platform-wide
 * window's remaining (scope `global`) would reveal other tenants' traffic. (Per-agent global windows
 * do not apply here: the page asks for the tenant's windows without an agent type.)
 */
function visibleWindows(windows: RateWindowStatus[], operator: boolean): RateWindowStatus[] {
  return operator ? windows : windows.filter((w) => w.scope !== 'global')
}

/** Null when there is no such tenant (the page is a 404). */
export async function tenantDetail(
  s: DashboardServices,
  tenantId: string,
  periodName: DashboardPeriod,
  viewer: { operator: boolean },
): Promise<TenantDetail | null> {
  const tenant = await s.tenants.find(tenantId)
  if (!tenant) return null
  const period = periodOf(s, periodName)
  const { today, chartStart } = dayRanges(s.config.now(), s.config.timeZone)
  const last30 = { from: chartStart, to: today.to }
  const [groups, byDay, status, windows, current, history, plans, keys, audit, recent, failed] = await Promise.all([
    s.client.llmExecution.groupBy({
      by: ['agentType', 'model', 'apiKeyId', 'status'],
      where: { tenantId, startedAt: { gte: period.from, lt: period.to } },
      _sum: { totalCostNanos: true, totalTokens: true },
      _count: { _all: true },
      orderBy: [{ agentType: 'asc' }, { model: 'asc' }, { apiKeyId: 'asc' }, { status: 'asc' }],
    }) as Promise<Grouped[]>,
    s.ledger.usageByDay({ tenantId, period: last30 }),
    s.budgets.status(tenantId),
    s.budgets.rateLimitStatus(tenantId),
    s.plans.currentPlan(tenantId),
    s.plans.planHistory(tenantId),
    s.plans.listPlans(),
    s.keys.listApiKeys(tenantId),
    s.audit.events({ tenantId, limit: 10 }),
    s.ledger.recentExecutions({ tenantId, limit: 10, includeRefused: true }),
    s.ledger.failedExecutions({ tenantId, limit: 10, period: last30 }),
  ])
  const days = Object.keys(byDay)
  const keyNames = new Map(keys.map((k) => [k.id, k.name]))
  return {
    tenant,
    period,
    totals: figuresOf(groups.map(toRow)),
    chart: { days, cost: days.map((d) => byDay[d].cost.toNumber()), executions: days.map((d) => byDay[d].count) },
    byAgent: breakdown(groups, (g) => g.agentType),
    byModel: breakdown(groups, (g) => g.model),
    byKey: breakdown(groups, (g) => g.apiKeyId ?? '').map((b) => ({ ...b, name: b.key === '' ? null : (keyNames.get(b.key) ?? null) })),
    status,
    windows: visibleWindows(windows, viewer.operator),
    current,
    history: [...history].reverse(),
    plans,
    keys,
    audit,
    recent,
    failed,
  }
}

/** The money of a limit status value (cost limits are Decimal dollars; the rest are counts). */
export function isMoney(value: unknown): value is ReturnType<typeof nanosToUsd> {
  return typeof value === 'object' && value !== null && typeof (value as { toFixed?: unknown }).toFixed === 'function'
}
