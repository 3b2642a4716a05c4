/**
 * The policy step: effective limits, rate limits and enforcement for one call — the single place
 * inheritance is decided:
 *   value       = call override → tenantConfigResolver → tenant row → its plan → (inheritGlobal ? global : none)
 *   enforcement = the same chain, ending in the global enforcement when inheriting, else 'none'.
 * 0 is a set limit. Global budgets and rate limits apply at the same time, with the global
 * enforcement. Every tenant value says where it came from (`sources`), for status reports. Rate
 * limits are enforced where the enforcement is hard (a soft or tracking-only rate limit would
 * limit nothing).
 */
import type { BudgetOptions } from '../config/budgets.js'
import { LIMIT_TYPES, type BudgetLimitType, type Enforcement, type LimitType, type LimitValues } from '../config/limits.js'
import type { ParsedOverride } from '../config/overrides.js'
import { RATE_LIMIT_KEYS, splitRateLimitKey, type RateLimitKey, type RateLimitValues } from '../config/rate-limits.js'
import type { LimitCheck } from '../ledger/counters/fits.js'
import type { CounterKey, Scope } from '../ledger/counters/keys.js'
import type { PlanLimits } from '../plans/plan-limits.js'
import type { LimitSource, RateCheck, RateScope } from '../rate-limits/keys.js'
import type { TenantRowLimits } from '../tenant/loader.js'
import type { ApiKeyLimits } from '../keys/key-record.js'

/** An override with where it came from: the call's `{ id, limits }` or the tenantConfigResolver. */
export interface SourcedOverride {
  source: 'override' | 'resolver'
  parsed: ParsedOverride
}

export interface EffectivePolicy {
  tenantEnforcement: Enforcement
  globalEnforcement: Enforcement
  tenantLimits: LimitValues
  maxConcurrent: bigint | null
  /** Where each tenant value came from; null = no limit. */
  sources: Record<BudgetLimitType, LimitSource | null>
  enforcementSource: LimitSource
  /** The tenant's plan version in force at the call's instant. */
  plan: { key: string; version: number; name: string } | null
  checks: LimitCheck[]
  rateChecks: RateCheck[]
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

/** The first candidate that is set (not undefined), with its source; else the fallback. */
function chain<T>(candidates: Array<[LimitSource, T | undefined]>, fallback: [LimitSource, T]): [LimitSource, T] {
  for (const [source, value] of candidates) if (value !== undefined) return [source, value]
  return fallback
}

/** A stored (row / plan) value: null there means "not set", so it falls through. */
const stored = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v)

export function effectivePolicy(
  budgets: BudgetOptions,
  tenantId: string | null,
  agentType: string,
  keys: CounterKey[],
  row: TenantRowLimits | null,
  plan: PlanLimits | null,
  overrides: SourcedOverride[],
  apiKey: ApiKeyLimits | null = null,
): EffectivePolicy {
  const inherit = row?.inheritGlobal ?? true
  const globalOr = <T>(value: T, none: T): [LimitSource, T] => (inherit ? ['global', value] : ['global', none])
  const ov = <T>(read: (o: ParsedOverride) => T | undefined): Array<[LimitSource, T | undefined]> => overrides.map((o) => [o.source, read(o.parsed)])

  const tenantLimits = {} as LimitValues
  const sources = {} as Record<BudgetLimitType, LimitSource | null>
  for (const type of LIMIT_TYPES) {
    const [source, value] = chain<bigint | null>(
      [...ov((o) => o.limits[type]), ['tenant', stored(row?.limits[type])], ['plan', stored(plan?.limits[type])]],
      globalOr(budgets.global[type], null),
    )
    tenantLimits[type] = value
    sources[type] = value === null ? null : source
  }
  const [enforcementSource, tenantEnforcement] = chain<Enforcement>(
    [...ov((o) => o.enforcement ?? undefined), ['tenant', stored(row?.enforcement)], ['plan', stored(plan?.enforcement)]],
    inherit ? ['global', budgets.enforcement] : ['global', 'none'],
  )
  const [concurrentSource, maxConcurrent] = chain<bigint | null>(
    [...ov((o) => o.maxConcurrent), ['tenant', stored(row?.maxConcurrent)], ['plan', stored(plan?.maxConcurrent)]],
    globalOr(budgets.maxConcurrentPerTenant, null),
  )
  sources.maxConcurrent = maxConcurrent === null ? null : concurrentSource
  const [, tenantAgent] = chain(
    [...ov((o) => o.agentLimits?.[agentType]), ['tenant', row?.agentLimits[agentType]], ['plan', plan?.agentLimits[agentType]]],
    globalOr(budgets.perTenantAgent[agentType], undefined),
  )
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
  // A key's own limits apply on top of its tenant's (its calls count toward both), with the
  // tenant's enforcement.
  if (apiKey && tenantId !== null) {
    for (const type of LIMIT_TYPES) add('api_key', type, PERIOD_OF(type), apiKey.limits[type], tenantEnforcement, MEASURE[type])
    for (const c of checks) if (c.scope === 'api_key') c.tenantId = tenantId
  }

  const rateChecks: RateCheck[] = []
  const addRate = (scope: RateScope, name: RateLimitKey, picked: [LimitSource, bigint | null | undefined], enforcement: Enforcement) => {
    const [source, limit] = picked
    if (limit === null || limit === undefined || enforcement !== 'hard') return
    const { measure, window } = splitRateLimitKey(name)
    const tenant = scope === 'tenant' || scope === 'tenant_agent' ? (tenantId as string) : scope === 'api_key' ? (apiKey?.id as string) : ''
    const agent = scope === 'tenant_agent' || scope === 'global_agent' ? agentType : ''
    rateChecks.push({
      scope,
      key: [scope, tenant, agent, measure, window],
      name,
      measure,
      window,
      limit,
      enforcement,
      source,
      ...(scope === 'api_key' ? { tenantId: tenantId as string } : {}),
    })
  }
  const rateChain = (
    read: (o: ParsedOverride) => RateLimitValues | undefined,
    own: RateLimitValues | undefined,
    planned: RateLimitValues | undefined,
    inherited: RateLimitValues | undefined,
    name: RateLimitKey,
  ) =>
    chain<bigint | null>(
      [...ov((o) => read(o)?.[name]), ['tenant', stored(own?.[name])], ['plan', stored(planned?.[name])]],
      globalOr(inherited?.[name] ?? null, null),
    )
  for (const name of RATE_LIMIT_KEYS) {
    if (tenantId !== null) {
      addRate(
        'tenant',
        name,
        rateChain((o) => o.rateLimits, row?.rateLimits, plan?.rateLimits, budgets.rateLimits, name),
        tenantEnforcement,
      )
      addRate(
        'tenant_agent',
        name,
        rateChain(
          (o) => o.agentRateLimits?.[agentType],
          row?.agentRateLimits[agentType],
          plan?.agentRateLimits[agentType],
          budgets.perTenantAgentRateLimits[agentType],
          name,
        ),
        tenantEnforcement,
      )
    }
    if (apiKey && tenantId !== null) addRate('api_key', name, ['api_key', stored(apiKey.rateLimits[name])], tenantEnforcement)
    addRate('global', name, ['global', budgets.rateLimits[name]], budgets.enforcement)
    addRate('global_agent', name, ['global', budgets.perAgentRateLimits[agentType]?.[name]], budgets.enforcement)
  }

  return {
    tenantEnforcement,
    globalEnforcement: budgets.enforcement,
    tenantLimits,
    maxConcurrent,
    sources,
    enforcementSource,
    plan: plan ? { key: plan.key, version: plan.version, name: plan.name } : null,
    checks,
    rateChecks,
  }
}
