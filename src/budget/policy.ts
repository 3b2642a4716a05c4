/**
 * Effective limits and enforcement for one call — the single place inheritance is decided:
 *   limit       = call override → tenantConfigResolver → tenant row → (inheritGlobal ? global : none)
 *   enforcement = same chain, ending in the global enforcement when inheriting, else 'none'.
 * 0 is a set limit. Global budgets apply at the same time, with the global enforcement.
 */
import type { BudgetOptions } from '../config/budgets.js'
import { LIMIT_TYPES, type BudgetLimitType, type Enforcement, type LimitType, type LimitValues } from '../config/limits.js'
import type { ParsedOverride } from '../config/overrides.js'
import type { CounterKey, Scope } from '../ledger/counters/keys.js'
import type { LimitCheck } from '../ledger/counters/fits.js'
import type { TenantRowLimits } from '../tenant/loader.js'

export interface EffectivePolicy {
  tenantEnforcement: Enforcement
  globalEnforcement: Enforcement
  tenantLimits: LimitValues
  maxConcurrent: bigint | null
  checks: LimitCheck[]
}

const MEASURE: Record<LimitType, LimitCheck['measure']> = {
  dailyCost: 'cost',
  monthlyCost: 'cost',
  dailyTokens: 'tokens',
  monthlyTokens: 'tokens',
  dailyExecutions: 'executions',
  monthlyExecutions: 'executions',
}
const PERIOD_OF = (t: LimitType): 'day' | 'month' => (t.startsWith('daily') ? 'day' : 'month')

function pick<T>(...candidates: Array<T | undefined>): T | undefined {
  return candidates.find((c) => c !== undefined)
}

export function effectivePolicy(
  budgets: BudgetOptions,
  tenantId: string | null,
  agentType: string,
  keys: CounterKey[],
  row: TenantRowLimits | null,
  overrides: ParsedOverride[],
): EffectivePolicy {
  const inherit = row?.inheritGlobal ?? true
  const tenantLimits = {} as LimitValues
  for (const type of LIMIT_TYPES) {
    const own = pick(...overrides.map((o) => o.limits[type]), row?.limits[type] ?? undefined)
    tenantLimits[type] = own !== undefined ? own : inherit ? budgets.global[type] : null
  }
  const tenantEnforcement = pick(...overrides.map((o) => o.enforcement ?? undefined), row?.enforcement ?? undefined) ?? (inherit ? budgets.enforcement : 'none')
  const maxConcurrent = pick(...overrides.map((o) => o.maxConcurrent), row?.maxConcurrent ?? undefined) ?? (inherit ? budgets.maxConcurrentPerTenant : null)
  const tenantAgent =
    pick(...overrides.map((o) => o.agentLimits?.[agentType]), row?.agentLimits[agentType]) ?? (inherit ? budgets.perTenantAgent[agentType] : undefined)
  const globalAgent = budgets.perAgent[agentType]

  const find = (scope: Scope, period: string): CounterKey | undefined => keys.find((k) => k[0] === scope && k[3] === period)
  const checks: LimitCheck[] = []
  const add = (
    scope: Scope,
    limitType: BudgetLimitType,
    period: string,
    limit: bigint | null | undefined,
    enforcement: Enforcement,
    measure: LimitCheck['measure'],
  ) => {
    if (limit === null || limit === undefined) return
    const key = find(scope, period)
    if (key) checks.push({ scope, key, limitType, measure, limit, enforcement })
  }
  for (const type of LIMIT_TYPES) {
    if (tenantId !== null) add('tenant', type, PERIOD_OF(type), tenantLimits[type], tenantEnforcement, MEASURE[type])
    add('global', type, PERIOD_OF(type), budgets.global[type], budgets.enforcement, MEASURE[type])
  }
  if (tenantId !== null) {
    add('tenant', 'maxConcurrent', 'inflight', maxConcurrent, tenantEnforcement, 'executions')
    add('tenant_agent', 'dailyCost', 'day', tenantAgent?.dailyCost, tenantEnforcement, 'cost')
    add('tenant_agent', 'monthlyCost', 'month', tenantAgent?.monthlyCost, tenantEnforcement, 'cost')
  }
  add('global_agent', 'dailyCost', 'day', globalAgent?.dailyCost, budgets.enforcement, 'cost')
  add('global_agent', 'monthlyCost', 'month', globalAgent?.monthlyCost, budgets.enforcement, 'cost')
  return { tenantEnforcement, globalEnforcement: budgets.enforcement, tenantLimits, maxConcurrent, checks }
}
