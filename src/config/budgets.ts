/**
 * Budget options of the shared config: global budgets (across all tenants and tenant-less calls),
 * per-agent limits, defaults for tenants that inherit, enforcement and failure policy. Parsed once
 * into exact integer units so the hot path never converts money.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { usdToNanos, type UsdInput } from '../foundation/money.js'
import {
  assertEnforcement,
  emptyLimits,
  parseAgentLimits,
  parseLimits,
  parseMaxConcurrent,
  type AgentLimitsInput,
  type AgentLimitValues,
  type Enforcement,
  type LimitType,
  type LimitsInput,
  type LimitValues,
} from './limits.js'
import { MAX_TOKENS } from '../foundation/validation.js'
import {
  parseAgentRateLimits,
  parseRateLimits,
  type AgentRateLimitsInput,
  type AgentRateLimitValues,
  type RateLimitsInput,
  type RateLimitValues,
} from './rate-limits.js'

export interface BudgetsInput {
  /** Global limits across every tenant and tenant-less call; also the defaults tenants inherit. */
  globalDaily?: UsdInput | null
  globalMonthly?: UsdInput | null
  globalDailyTokens?: number | null
  globalMonthlyTokens?: number | null
  globalDailyExecutions?: number | null
  globalMonthlyExecutions?: number | null
  /** Global per-agent cost limits (all tenants together). */
  perAgent?: AgentLimitsInput
  /** Per-agent cost limits every tenant inherits (each tenant separately). */
  perTenantAgent?: AgentLimitsInput
  /** Default in-flight limit per tenant (tenants inherit it). */
  maxConcurrentPerTenant?: number | null
  /** Enforcement of the global budgets, inherited by tenants without their own. Default 'hard'. */
  enforcement?: Enforcement
  /** Caps any single call's reservation, so one call can never pin a whole budget. Default: no cap. */
  maxReservation?: { cost?: UsdInput | null; tokens?: number | null }
  /**
   * The reservation of a call that gives no `estimate` (per field: a call giving only `tokens`
   * reserves this `cost`). Default $0 and 0 tokens. An under-estimate is never a bypass: the call
   * records its real cost, and the calls after it are refused once the limit is used up.
   */
  defaultEstimate?: { cost?: UsdInput | null; tokens?: number | null }
  /**
   * Global rate limits (`{ requestsPerMinute, tokensPerMinute, … }`, per second, minute, hour or
   * day), across every tenant and tenant-less call; also the rate limits tenants inherit.
   */
  rateLimits?: RateLimitsInput
  /** Global per-agent rate limits (all tenants together). */
  perAgentRateLimits?: AgentRateLimitsInput
  /** Per-agent rate limits every tenant inherits (each tenant separately). */
  perTenantAgentRateLimits?: AgentRateLimitsInput
}

export interface BudgetOptions {
  global: LimitValues
  perAgent: AgentLimitValues
  perTenantAgent: AgentLimitValues
  maxConcurrentPerTenant: bigint | null
  enforcement: Enforcement
  maxReservation: { cost: bigint | null; tokens: bigint | null }
  defaultEstimate: { cost: bigint; tokens: bigint }
  rateLimits: RateLimitValues
  perAgentRateLimits: AgentRateLimitValues
  perTenantAgentRateLimits: AgentRateLimitValues
}

const GLOBAL_KEYS: Record<string, LimitType> = {
  globalDaily: 'dailyCost',
  globalMonthly: 'monthlyCost',
  globalDailyTokens: 'dailyTokens',
  globalMonthlyTokens: 'monthlyTokens',
  globalDailyExecutions: 'dailyExecutions',
  globalMonthlyExecutions: 'monthlyExecutions',
}
const BUDGET_KEYS = [
  ...Object.keys(GLOBAL_KEYS),
  'perAgent',
  'perTenantAgent',
  'maxConcurrentPerTenant',
  'enforcement',
  'maxReservation',
  'defaultEstimate',
  'rateLimits',
  'perAgentRateLimits',
  'perTenantAgentRateLimits',
]

/** `{ cost?, tokens? }` of maxReservation / defaultEstimate: dollars and a token count, each optional. */
function parseCostAndTokens(input: unknown, field: string): { cost: bigint | null; tokens: bigint | null } {
  if (input === undefined || input === null) return { cost: null, tokens: null }
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError(field, '{ cost?, tokens? }', input)
  const { cost, tokens, ...rest } = input as { cost?: UsdInput | null; tokens?: number | null }
  const extra = Object.keys(rest)[0]
  if (extra) throw new InvalidArgumentError(`${field}.${extra}`, 'cost, tokens', extra)
  if (tokens !== undefined && tokens !== null && (typeof tokens !== 'number' || !Number.isSafeInteger(tokens) || tokens < 0 || tokens > MAX_TOKENS)) {
    throw new InvalidArgumentError(`${field}.tokens`, `an integer from 0 to ${MAX_TOKENS}, or null`, tokens)
  }
  return {
    cost: cost === undefined || cost === null ? null : usdToNanos(cost, `${field}.cost`),
    tokens: tokens === undefined || tokens === null ? null : BigInt(tokens),
  }
}

export function parseBudgets(input: BudgetsInput | undefined): BudgetOptions {
  if (input === undefined) {
    return {
      global: emptyLimits(),
      perAgent: {},
      perTenantAgent: {},
      maxConcurrentPerTenant: null,
      enforcement: 'none',
      maxReservation: { cost: null, tokens: null },
      defaultEstimate: { cost: 0n, tokens: 0n },
      rateLimits: {},
      perAgentRateLimits: {},
      perTenantAgentRateLimits: {},
    }
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError('config.budgets', `an object with any of: ${BUDGET_KEYS.join(', ')}`, input)
  }
  for (const key of Object.keys(input)) {
    if (!BUDGET_KEYS.includes(key)) throw new InvalidArgumentError(`config.budgets.${key}`, `one of: ${BUDGET_KEYS.join(', ')}`, key)
  }
  const limitsInput: Record<string, unknown> = {}
  for (const [key, type] of Object.entries(GLOBAL_KEYS)) {
    const value = (input as Record<string, unknown>)[key]
    if (value !== undefined) limitsInput[type] = value
  }
  let global: LimitValues
  try {
    global = { ...emptyLimits(), ...parseLimits(limitsInput as LimitsInput, 'config.budgets') }
  } catch (err) {
    // Re-name the field after the public option (config.budgets.globalDaily, not …dailyCost).
    if (err instanceof InvalidArgumentError) {
      const type = err.field.split('.').pop() as LimitType
      const key = Object.keys(GLOBAL_KEYS).find((k) => GLOBAL_KEYS[k] === type) ?? type
      throw new InvalidArgumentError(`config.budgets.${key}`, err.allowed, limitsInput[type])
    }
    throw err
  }
  return {
    global,
    perAgent: parseAgentLimits(input.perAgent, 'config.budgets.perAgent'),
    perTenantAgent: parseAgentLimits(input.perTenantAgent, 'config.budgets.perTenantAgent'),
    maxConcurrentPerTenant: parseMaxConcurrent(input.maxConcurrentPerTenant, 'config.budgets.maxConcurrentPerTenant'),
    enforcement: (input.enforcement === undefined ? 'hard' : assertEnforcement(input.enforcement, 'config.budgets.enforcement', false)) as Enforcement,
    maxReservation: parseCostAndTokens(input.maxReservation, 'config.budgets.maxReservation'),
    defaultEstimate: (({ cost, tokens }) => ({ cost: cost ?? 0n, tokens: tokens ?? 0n }))(
      parseCostAndTokens(input.defaultEstimate, 'config.budgets.defaultEstimate'),
    ),
    rateLimits: parseRateLimits(input.rateLimits, 'config.budgets.rateLimits'),
    perAgentRateLimits: parseAgentRateLimits(input.perAgentRateLimits, 'config.budgets.perAgentRateLimits'),
    perTenantAgentRateLimits: parseAgentRateLimits(input.perTenantAgentRateLimits, 'config.budgets.perTenantAgentRateLimits'),
  }
}
