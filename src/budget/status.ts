/**
 * Budget status figures for a tenant: per limit its effective value, what is used (settled spend of
 * the current zone-local day/month, from the counters), what is reserved by calls in flight, what
 * remains and the percentage, with the enforcement that applies.
 */
import { Decimal, nanosToUsd, usdToNanos } from '../foundation/money.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { LIMIT_TYPES, type Enforcement } from '../config/limits.js'
import type { CounterRow } from '../ledger/counters/statements.js'
import type { EffectivePolicy } from './policy.js'
import { keyId, type CounterKey } from '../ledger/counters/keys.js'
import type { BudgetLimitType } from '../config/limits.js'
import type { LimitCheck } from '../ledger/counters/fits.js'
import type { LimitSource } from '../rate-limits/keys.js'

export interface LimitStatus {
  limitType: BudgetLimitType
  /** null = no limit. Cost figures are Decimal dollars; the others are counts. */
  limit: Decimal | number | null
  used: Decimal | number
  reserved: Decimal | number
  remaining: Decimal | number | null
  /** used ÷ limit × 100, two decimals; null without a limit; 100 for a limit of 0. */
  percentage: number | null
  enforcement: Enforcement
  /** Where the limit came from: the call's override, the tenantConfigResolver, the tenant, its plan or the global budgets; null = no limit. */
  source: LimitSource | null
}

export interface BudgetStatus {
  tenantId: string
  enforcement: Enforcement
  /** Where the enforcement came from. */
  enforcementSource: LimitSource
  /** The plan version in force, if the tenant is on one. */
  plan: { key: string; version: number; name: string } | null
  limits: Record<BudgetLimitType, LimitStatus>
}

const STATUS_TYPES: readonly BudgetLimitType[] = [...LIMIT_TYPES, 'maxConcurrent']

export function assertStatusType(type: unknown, field = 'type'): BudgetLimitType | undefined {
  if (type === undefined) return undefined
  if (typeof type !== 'string' || !(STATUS_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(field, STATUS_TYPES.join(', '), type)
  }
  return type as BudgetLimitType
}

export function budgetStatus(tenantId: string, policy: EffectivePolicy, keys: CounterKey[], rows: CounterRow[]): BudgetStatus {
  const byId = new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
  const rowFor = (period: string) => {
    const key = keys.find((k) => k[0] === 'tenant' && k[3] === period)
    return key ? byId.get(keyId(key)) : undefined
  }
  const limits = {} as Record<BudgetLimitType, LimitStatus>
  for (const type of STATUS_TYPES) {
    const limit = type === 'maxConcurrent' ? policy.maxConcurrent : policy.tenantLimits[type]
    const row = rowFor(type === 'maxConcurrent' ? 'inflight' : type.startsWith('daily') ? 'day' : 'month')
    const measure = type === 'maxConcurrent' ? 'inflight' : type.endsWith('Cost') ? 'cost' : type.endsWith('Tokens') ? 'tokens' : 'executions'
    const used = !row
      ? 0n
      : measure === 'cost'
        ? row.spentCost
        : measure === 'tokens'
          ? row.spentTokens
          : measure === 'executions'
            ? row.spentExecutions
            : row.reservedExecutions
    const reserved = !row ? 0n : measure === 'cost' ? row.reservedCost : measure === 'tokens' ? row.reservedTokens : row.reservedExecutions
    const show = (v: bigint) => (measure === 'cost' ? nanosToUsd(v) : Number(v))
    const remaining = limit === null ? null : limit > used ? limit - used : 0n
    const percentage =
      limit === null ? null : limit === 0n ? 100 : new Decimal(used.toString()).times(100).dividedBy(limit.toString()).toDecimalPlaces(2).toNumber()
    limits[type] = {
      limitType: type,
      limit: limit === null ? null : show(limit),
      used: show(used),
      reserved: show(reserved),
      remaining: remaining === null ? null : show(remaining),
      percentage,
      enforcement: policy.tenantEnforcement,
      source: policy.sources[type],
    }
  }
  return { tenantId, enforcement: policy.tenantEnforcement, enforcementSource: policy.enforcementSource, plan: policy.plan, limits }
}

/**
 * The first hard-enforced tenant limit the status shows used up (nothing remains), as a check with
 * its figure — what checkBudget refuses with; null when every limit has room or none is hard.
 */
export function exhaustedTenantLimit(status: BudgetStatus, policy: EffectivePolicy): (LimitCheck & { current: bigint }) | null {
  if (status.enforcement !== 'hard') return null
  for (const l of Object.values(status.limits)) {
    if (l.limit === null || l.remaining === null) continue
    const exhausted = typeof l.remaining === 'number' ? l.remaining <= 0 : l.remaining.lte(0)
    if (!exhausted) continue
    const check = policy.checks.find((c) => c.scope === 'tenant' && c.limitType === l.limitType)
    if (!check) continue
    return { ...check, current: typeof l.used === 'number' ? BigInt(l.used) : usdToNanos(l.used, 'used') }
  }
  return null
}
