/**
 * What a plan is defined with — `{ key, name, limits, rateLimits, enforcement, prices, … }` — its
 * validation (bad input names the field and the allowed values, and writes nothing) and its
 * mapping to `llm_plans` columns. Prices are exact: decimal amounts in, nano-units stored; a price
 * with more precision than a nano-unit, or negative, is refused, never rounded.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { Decimal, type UsdInput } from '../foundation/money.js'
import { redactMetadata } from '../foundation/redact.js'
import { currencyDigits, formatMinor, isWholeMinorUnits } from '../foundation/currency.js'
import {
  assertEnforcement,
  limitsToColumns,
  parseAgentLimits,
  parseMaxConcurrent,
  type AgentLimitsInput,
  type Enforcement,
  type LimitsInput,
} from '../config/limits.js'
import {
  agentRateLimitsToJson,
  parseAgentRateLimits,
  parseRateLimits,
  rateLimitsToJson,
  type AgentRateLimitsInput,
  type RateLimitsInput,
} from '../config/rate-limits.js'
import { parseSessionLimits, sessionLimitsToJson, type SessionLimitsInput } from '../config/session-limits.js'

/** A plan's prices (billing): amounts in the plan's currency, exact. */
export interface PlanPricesInput {
  /** ISO 4217 code, e.g. 'USD' (default). */
  currency?: string
  /** Base fee per month. */
  baseFee?: UsdInput | null
  /** Tokens included per month before overage. */
  includedTokens?: number | null
  /** Provider cost included per month before the markup applies. */
  includedCost?: UsdInput | null
  /** Price per 1,000 tokens beyond the included tokens. */
  overagePer1kTokens?: UsdInput | null
  /** Markup on provider cost beyond the included cost, in percent (e.g. '20' = +20%); at most 4 decimals. */
  costMarkup?: UsdInput | null
}

export interface PlanInput {
  /** The plan's key: lowercase letters, digits, `-` and `_`, 1–64 chars (e.g. 'pro'). */
  key: string
  name: string
  description?: string | null
  limits?: LimitsInput
  maxConcurrent?: number | null
  agentLimits?: AgentLimitsInput | null
  rateLimits?: RateLimitsInput | null
  agentRateLimits?: AgentRateLimitsInput | null
  enforcement?: Enforcement | null
  prices?: PlanPricesInput
  /** Conversation-store limits for the plan's tenants (docs/sessions.md); a key absent = the store's default. */
  sessions?: SessionLimitsInput | null
  metadata?: Record<string, unknown> | null
}

/** What updatePlan takes: every field but the key. */
export type PlanChanges = Partial<Omit<PlanInput, 'key'>>

const PLAN_KEYS = [
  'key',
  'name',
  'description',
  'limits',
  'maxConcurrent',
  'agentLimits',
  'rateLimits',
  'agentRateLimits',
  'enforcement',
  'prices',
  'sessions',
  'metadata',
]
const PRICE_KEYS = ['currency', 'baseFee', 'includedTokens', 'includedCost', 'overagePer1kTokens', 'costMarkup']

export function assertPlanKey(value: unknown, field = 'key'): string {
  if (typeof value !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(value)) {
    throw new InvalidArgumentError(field, 'a plan key of lowercase letters, digits, - and _ (1-64 characters, e.g. "pro")', value)
  }
  return value
}

export function assertPlanVersion(value: unknown, field = 'version'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(field, 'an integer version >= 1', value)
  return value
}

/** An exact non-negative amount with at most `decimals` places, scaled to an integer by 10^decimals. */
function exactAmount(value: unknown, field: string, decimals: number, allowed: string): bigint {
  let d: Decimal
  try {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error('not finite')
      d = new Decimal(String(value))
    } else if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) d = new Decimal(value.trim())
    else if (value && typeof value === 'object' && typeof (value as { toFixed?: unknown }).toFixed === 'function')
      d = new Decimal((value as { toFixed(): string }).toFixed())
    else throw new Error('not an amount')
  } catch {
    throw new InvalidArgumentError(field, allowed, value)
  }
  if (!d.isFinite() || d.isNegative() || d.decimalPlaces() > decimals) throw new InvalidArgumentError(field, allowed, value)
  const scaled = BigInt(d.times(new Decimal(10).pow(decimals)).toFixed(0))
  if (scaled > 9_223_372_036_854_775_807n) throw new InvalidArgumentError(field, allowed, value)
  return scaled
}

const MONEY = 'a non-negative amount with at most 9 decimal places (a decimal string such as "49.00", a number or a Decimal), or null'

/** Plan price fields → their columns (only the keys given). */
function pricesToColumns(input: unknown, field = 'prices'): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidArgumentError(field, `an object with any of: ${PRICE_KEYS.join(', ')}`, input)
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (!PRICE_KEYS.includes(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of: ${PRICE_KEYS.join(', ')}`, key)
    if (value === undefined) continue
    const f = `${field}.${key}`
    if (key === 'currency') {
      if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value)) throw new InvalidArgumentError(f, 'a 3-letter ISO 4217 currency code such as "USD"', value)
      out.currency = value
    } else if (key === 'includedTokens') {
      out.includedTokens = value === null ? null : BigInt(exactAmount(value, f, 0, 'a whole number of tokens >= 0, or null'))
    } else if (key === 'costMarkup') {
      out.costMarkupPpm =
        value === null ? null : exactAmount(value, f, 4, 'a non-negative percentage with at most 4 decimal places (e.g. "20" = +20%), or null')
    } else {
      const column = { baseFee: 'baseFeeNanos', includedCost: 'includedCostNanos', overagePer1kTokens: 'overagePer1kTokensNanos' }[key] as string
      out[column] = value === null ? null : exactAmount(value, f, 9, MONEY)
    }
  }
  return out
}

/** Validates a plan (or the changes to one) and maps it to `llm_plans` columns (only the keys given). */
export function planToColumns(input: unknown, field = 'plan', { requireKeyAndName = true } = {}): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidArgumentError(field, `an object with any of: ${PLAN_KEYS.join(', ')}`, input)
  const data: Record<string, unknown> = {}
  const source = input as Record<string, unknown>
  for (const [key, value] of Object.entries(source)) {
    if (!PLAN_KEYS.includes(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of: ${PLAN_KEYS.join(', ')}`, key)
    if (value === undefined) continue
    const f = `${field}.${key}`
    switch (key) {
      case 'key':
        data.key = assertPlanKey(value, f)
        break
      case 'name':
        if (typeof value !== 'string' || value.trim() === '' || value.length > 255)
          throw new InvalidArgumentError(f, 'a non-empty string of at most 255 characters', value)
        data.name = value
        break
      case 'description':
        if (value !== null && typeof value !== 'string') throw new InvalidArgumentError(f, 'a string or null', value)
        data.description = value
        break
      case 'limits':
        Object.assign(data, limitsToColumns(value, f))
        break
      case 'maxConcurrent':
        data.maxConcurrent = parseMaxConcurrent(value, f)
        break
      case 'agentLimits':
        data.agentLimits = Object.fromEntries(
          Object.entries(parseAgentLimits(value, f)).map(([a, l]) => [
            a,
            { dailyCost: l.dailyCost?.toString() ?? null, monthlyCost: l.monthlyCost?.toString() ?? null },
          ]),
        )
        break
      case 'rateLimits':
        data.rateLimits = value === null ? {} : rateLimitsToJson(parseRateLimits(value, f))
        break
      case 'agentRateLimits':
        data.agentRateLimits = value === null ? {} : agentRateLimitsToJson(parseAgentRateLimits(value, f))
        break
      case 'enforcement':
        data.enforcement = assertEnforcement(value, f)
        break
      case 'prices':
        Object.assign(data, pricesToColumns(value, f))
        break
      case 'sessions':
        data.sessionLimits = value === null ? {} : sessionLimitsToJson(parseSessionLimits(value, f))
        break
      case 'metadata':
        if (value !== null && (typeof value !== 'object' || Array.isArray(value))) throw new InvalidArgumentError(f, 'a plain JSON object or null', value)
        if (value !== null) data.metadata = redactMetadata(value)
        break
    }
  }
  if (requireKeyAndName) {
    if (data.key === undefined) throw new InvalidArgumentError(`${field}.key`, 'a plan key such as "pro"', source.key)
    if (data.name === undefined) throw new InvalidArgumentError(`${field}.name`, 'a non-empty string', source.name)
  }
  return data
}

/**
 * A plan's base fee is a line amount on every invoice: it must be a whole number of its currency's
 * minor units (49.00 USD, 4900 JPY) — more precision is refused, never rounded. `columns` is the
 * version's row as it will be stored (for updatePlan: the latest merged with the changes).
 */
export function assertBillablePrices(columns: Record<string, unknown>, field = 'plan'): void {
  const currency = typeof columns.currency === 'string' ? columns.currency : 'USD'
  const fee = columns.baseFeeNanos
  if (typeof fee !== 'bigint' || isWholeMinorUnits(fee, currency)) return
  const digits = currencyDigits(currency)
  throw new InvalidArgumentError(
    `${field}.prices.baseFee`,
    `an amount with at most ${digits} decimal place${digits === 1 ? '' : 's'} (the minor unit of ${currency}), e.g. "${formatMinor(0n, currency).replace(/^0/, '49')}"`,
    new Decimal(fee.toString()).dividedBy(1e9).toFixed(),
  )
}
