/**
 * Query scoping: which tenant(s) and which instant range a ledger query covers. Every query builds
 * its filter here, so "tenant X" always means `tenant_id = X` (never a prefix/LIKE match).
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { resolvePeriod, type PeriodInput, type ResolvedPeriod } from '../foundation/periods.js'
import type { LlmConfig } from '../config/config.js'
import { assertIdentifier, assertQuery } from '../foundation/validation.js'

/**
 * Which executions a query covers: a tenant id (that tenant only), `null` (calls made without a
 * tenant), `'*'`-free `undefined` (every execution).
 */
export type TenantScope = string | null | undefined

export interface PeriodQuery {
  /** Tenant id; `null` = executions without a tenant; omitted = all executions. */
  tenantId?: TenantScope
  period?: PeriodInput
  /** Count `refused` rows too (they consume nothing; default false: they are not executions). */
  includeRefused?: boolean
}

export interface Scope {
  tenantId: TenantScope
  period: ResolvedPeriod
  includeRefused: boolean
}

/** Query keys every period query accepts. */
const PERIOD_QUERY_KEYS = ['tenantId', 'period', 'includeRefused'] as const

function assertIncludeRefused(value: unknown, field = 'includeRefused'): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new InvalidArgumentError(field, 'true or false', value)
  return value
}

export function resolveScope(
  query: PeriodQuery | undefined,
  config: LlmConfig,
  defaultPeriod: PeriodInput = 'this_month',
  keys: readonly string[] = PERIOD_QUERY_KEYS,
): Scope {
  if (query !== undefined) assertQuery(query, keys)
  const tenantId = query?.tenantId
  if (tenantId !== undefined && tenantId !== null) assertIdentifier(tenantId, 'tenantId')
  const period = resolvePeriod(query?.period ?? defaultPeriod, config)
  return { tenantId, period, includeRefused: assertIncludeRefused(query?.includeRefused) }
}

/**
 * Prisma `where` for a scope. Refused rows are left out unless the scope includes them (or `extra`
 * filters on status itself): a refusal consumed nothing and is not an execution.
 */
export function scopeWhere(scope: { tenantId: TenantScope; period?: ResolvedPeriod; includeRefused?: boolean }, extra: Record<string, unknown> = {}) {
  const where: Record<string, unknown> = { ...extra }
  if (scope.tenantId !== undefined) where.tenantId = scope.tenantId
  if (scope.period) where.startedAt = { gte: scope.period.from, lt: scope.period.to }
  if (!scope.includeRefused && !('status' in where)) where.status = { not: 'refused' }
  return where
}
