/**
 * Limits: the six period limits (daily/monthly × cost, tokens, executions), per-agent cost limits
 * and maxConcurrent — their types, validation, parsing into storage units (nano-USD, counts) and
 * mapping to the `llm_tenants` columns. `null` = not set; 0 is a set limit. Shared by the config
 * (global budgets), tenants, overrides and (coming) plans.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { nanosToUsd, usdToNanos, type Decimal, type UsdInput } from '../foundation/money.js'
import { assertIdentifier } from '../foundation/validation.js'

export const LIMIT_TYPES = ['dailyCost', 'monthlyCost', 'dailyTokens', 'monthlyTokens', 'dailyExecutions', 'monthlyExecutions'] as const
export type LimitType = (typeof LIMIT_TYPES)[number]

export const ENFORCEMENTS = ['none', 'soft', 'hard'] as const
export type Enforcement = (typeof ENFORCEMENTS)[number]

/** Limits as the API accepts them: cost in dollars, tokens/executions as integers; null = unset. */
export interface LimitsInput {
  dailyCost?: UsdInput | null
  monthlyCost?: UsdInput | null
  dailyTokens?: number | bigint | null
  monthlyTokens?: number | bigint | null
  dailyExecutions?: number | bigint | null
  monthlyExecutions?: number | bigint | null
}

/** Limits as the API returns them: cost as Decimal dollars; null = unset. */
export interface Limits {
  dailyCost: Decimal | null
  monthlyCost: Decimal | null
  dailyTokens: number | null
  monthlyTokens: number | null
  dailyExecutions: number | null
  monthlyExecutions: number | null
}

/** Column (Prisma field) per limit type. Cost columns hold nano-USD. */
export const LIMIT_COLUMNS: Record<LimitType, string> = {
  dailyCost: 'dailyCostLimitNanos',
  monthlyCost: 'monthlyCostLimitNanos',
  dailyTokens: 'dailyTokenLimit',
  monthlyTokens: 'monthlyTokenLimit',
  dailyExecutions: 'dailyExecutionLimit',
  monthlyExecutions: 'monthlyExecutionLimit',
}

const MAX_COUNT = BigInt(Number.MAX_SAFE_INTEGER)

export function isCostLimit(type: LimitType): boolean {
  return type === 'dailyCost' || type === 'monthlyCost'
}

function countToBigint(value: unknown, field: string): bigint {
  const allowed = `an integer from 0 to ${Number.MAX_SAFE_INTEGER}, or null for no limit`
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_COUNT) throw new InvalidArgumentError(field, allowed, value)
    return value
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(field, allowed, value)
  return BigInt(value)
}

/**
 * Validates a (partial) limits object and returns the column values to write. Unknown keys,
 * negatives, NaN, Infinity and non-numbers are rejected with the field named.
 */
export function limitsToColumns(input: unknown, field = 'limits'): Record<string, bigint | null> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(field, `an object with any of: ${LIMIT_TYPES.join(', ')}`, input)
  }
  const columns: Record<string, bigint | null> = {}
  for (const [key, value] of Object.entries(input)) {
    if (!(LIMIT_TYPES as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${field}.${key}`, `one of the limit types: ${LIMIT_TYPES.join(', ')}`, key)
    }
    const type = key as LimitType
    if (value === undefined) continue
    if (value === null) {
      columns[LIMIT_COLUMNS[type]] = null
    } else if (isCostLimit(type)) {
      columns[LIMIT_COLUMNS[type]] = usdToNanos(value as UsdInput, `${field}.${key}`)
    } else {
      columns[LIMIT_COLUMNS[type]] = countToBigint(value, `${field}.${key}`)
    }
  }
  return columns
}

/** Reads the six limits off a `llm_tenants` row. */
export function limitsFromRow(row: Record<string, unknown>): Limits {
  const count = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  const cost = (v: unknown) => (v === null || v === undefined ? null : nanosToUsd(v as bigint))
  return {
    dailyCost: cost(row.dailyCostLimitNanos),
    monthlyCost: cost(row.monthlyCostLimitNanos),
    dailyTokens: count(row.dailyTokenLimit),
    monthlyTokens: count(row.monthlyTokenLimit),
    dailyExecutions: count(row.dailyExecutionLimit),
    monthlyExecutions: count(row.monthlyExecutionLimit),
  }
}

export function assertEnforcement(value: unknown, field = 'enforcement', nullable = true): Enforcement | null {
  if (value === null && nullable) return null
  if (typeof value !== 'string' || !(ENFORCEMENTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(field, `${ENFORCEMENTS.join(', ')}${nullable ? ' or null (inherit)' : ''}`, value)
  }
  return value as Enforcement
}

/** Every limit a tenant can have: the six period limits and calls in flight. */
export type BudgetLimitType = LimitType | 'maxConcurrent'

/** Limits in storage units (nano-USD for cost); null = no limit. */
export type LimitValues = Record<LimitType, bigint | null>
/** Per-agent cost limits in nano-USD. */
export type AgentLimitValues = Record<string, { dailyCost: bigint | null; monthlyCost: bigint | null }>

export interface AgentLimitsInput {
  [agentType: string]: { dailyCost?: UsdInput | null; monthlyCost?: UsdInput | null }
}

export function emptyLimits(): LimitValues {
  return Object.fromEntries(LIMIT_TYPES.map((t) => [t, null])) as LimitValues
}

/** Column values (from limitsToColumns) → LimitValues. */
function columnsToLimits(columns: Record<string, bigint | null>): Partial<LimitValues> {
  const out: Partial<LimitValues> = {}
  for (const type of LIMIT_TYPES) {
    if (LIMIT_COLUMNS[type] in columns) out[type] = columns[LIMIT_COLUMNS[type]]
  }
  return out
}

export function parseLimits(input: LimitsInput | undefined, field: string): Partial<LimitValues> {
  return input === undefined ? {} : columnsToLimits(limitsToColumns(input, field))
}

export function parseAgentLimits(input: unknown, field: string): AgentLimitValues {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidArgumentError(field, '{ [agentType]: { dailyCost?, monthlyCost? } }', input)
  }
  const out: AgentLimitValues = {}
  for (const [agent, limits] of Object.entries(input as Record<string, unknown>)) {
    assertIdentifier(agent, `${field} agent type`, 255) // '' can never match a call's agentType
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
      throw new InvalidArgumentError(`${field}.${agent}`, '{ dailyCost?, monthlyCost? }', limits)
    }
    for (const key of Object.keys(limits)) {
      if (key !== 'dailyCost' && key !== 'monthlyCost') {
        throw new InvalidArgumentError(`${field}.${agent}.${key}`, 'dailyCost, monthlyCost', key)
      }
    }
    const l = limits as { dailyCost?: UsdInput | null; monthlyCost?: UsdInput | null }
    out[agent] = {
      dailyCost: l.dailyCost === undefined || l.dailyCost === null ? null : usdToNanos(l.dailyCost, `${field}.${agent}.dailyCost`),
      monthlyCost: l.monthlyCost === undefined || l.monthlyCost === null ? null : usdToNanos(l.monthlyCost, `${field}.${agent}.monthlyCost`),
    }
  }
  return out
}

export function parseMaxConcurrent(value: unknown, field: string): bigint | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(field, 'an integer >= 0, or null for no limit', value)
  }
  return BigInt(value)
}
