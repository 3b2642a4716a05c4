/**
 * Exact pricing: find the price in force for a model at an instant, and turn provider usage into
 * integer nano-USD (half-up per component). Cached tokens are never counted twice: `usage` is the
 * normalised shape where inputTokens INCLUDES cache reads and writes (see providers/usage.ts).
 */
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'
import { Decimal, NANOS_PER_USD } from '../foundation/money.js'
import { DEFAULT_PRICES, type ModelPrice } from './table.js'

export interface PricingOptions {
  /** Extra or overriding prices (same model + later effectiveFrom supersedes). */
  prices?: ModelPrice[]
  /** Used for models missing from the table; recorded on the execution. Default: none (error). */
  fallback?: Omit<ModelPrice, 'model' | 'effectiveFrom' | 'provider'>
}

export interface NormalizedUsage {
  /** All input tokens, including cache reads and cache writes. */
  inputTokens: number
  outputTokens: number
  /** Input tokens served from cache (a subset of inputTokens). */
  cachedInputTokens: number
  /** Input tokens written to the cache (a subset of inputTokens; Anthropic). */
  cacheWriteTokens: number
  /** Reasoning tokens (a subset of outputTokens), where the provider reports them. */
  reasoningTokens: number
}

export interface PricedUsage {
  inputCostNanos: bigint
  outputCostNanos: bigint
  price: ModelPrice
  /** 'table' | 'override' | 'fallback' — recorded on the execution. */
  source: 'table' | 'override' | 'fallback'
}

/** No price is known for the model and no fallback is configured: never silently $0. */
export class UnknownModelError extends LlmTenantError {
  readonly model: string
  readonly provider: string
  constructor(provider: string, model: string) {
    super('UNKNOWN_MODEL', `No price for ${provider} model "${model}": add it to config.pricing.prices or set config.pricing.fallback`)
    this.model = model
    this.provider = provider
  }
}

const PRICE_FIELDS = ['input', 'output', 'cachedInput', 'cacheWrite'] as const

export function validatePrice(price: unknown, field: string): void {
  if (typeof price !== 'object' || price === null) throw new InvalidArgumentError(field, '{ input, output, cachedInput, cacheWrite } in $ per 1M tokens', price)
  for (const key of PRICE_FIELDS) {
    const v = (price as Record<string, unknown>)[key]
    if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError(`${field}.${key}`, 'a non-negative decimal string, e.g. "2.50"', v)
  }
}

/** The most specific (longest) known model id that `model` is, or is a dated snapshot of. */
function matches(known: string, model: string): boolean {
  return model === known || (model.startsWith(`${known}-`) && /^\d{4}-?\d{2}-?\d{2}$|^\d{8}$|^latest$/.test(model.slice(known.length + 1)))
}

const PRICING_KEYS = ['prices', 'fallback']
const USAGE_FIELDS = ['inputTokens', 'outputTokens', 'cachedInputTokens', 'cacheWriteTokens', 'reasoningTokens'] as const

/** Validates what every pricing entry point receives: names, the instant and the options. */
function assertPricingArgs(provider: unknown, model: unknown, at: unknown, options: unknown): void {
  if (typeof provider !== 'string' || provider === '') throw new InvalidArgumentError('provider', 'a provider name such as "openai" or "anthropic"', provider)
  if (typeof model !== 'string' || model === '') throw new InvalidArgumentError('model', 'a non-empty model id such as "gpt-4o"', model)
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new InvalidArgumentError('at', 'a valid Date', at)
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new InvalidArgumentError('options', '{ prices?, fallback? }', options)
  for (const key of Object.keys(options)) {
    if (!PRICING_KEYS.includes(key)) throw new InvalidArgumentError(`options.${key}`, PRICING_KEYS.join(', '), key)
  }
  const { prices, fallback } = options as PricingOptions
  if (prices !== undefined) {
    if (!Array.isArray(prices)) throw new InvalidArgumentError('options.prices', 'an array of model prices', prices)
    prices.forEach((p, i) => validatePrice(p, `options.prices[${i}]`))
  }
  if (fallback !== undefined) validatePrice(fallback, 'options.fallback')
}

/** Usage to price: every count a non-negative safe integer (a negative count would price below $0). */
function assertUsage(usage: unknown): NormalizedUsage {
  if (typeof usage !== 'object' || usage === null) throw new InvalidArgumentError('usage', `an object with ${USAGE_FIELDS.join(', ')}`, usage)
  for (const key of USAGE_FIELDS) {
    const v = (usage as Record<string, unknown>)[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError(`usage.${key}`, `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`, v)
    }
  }
  return usage as NormalizedUsage
}

export function findPrice(
  provider: string,
  model: string,
  at: Date,
  options: PricingOptions = {},
): { price: ModelPrice; source: PricedUsage['source'] } | null {
  assertPricingArgs(provider, model, at, options)
  const day = at.toISOString().slice(0, 10)
  const pick = (list: readonly ModelPrice[]) => {
    const candidates = list.filter((p) => p.provider === provider && matches(p.model, model) && p.effectiveFrom <= day)
    candidates.sort((a, b) => b.model.length - a.model.length || b.effectiveFrom.localeCompare(a.effectiveFrom))
    return candidates[0]
  }
  const override = pick(options.prices ?? [])
  if (override) return { price: override, source: 'override' }
  const table = pick(DEFAULT_PRICES)
  if (table) return { price: table, source: 'table' }
  if (options.fallback) {
    return { price: { ...options.fallback, provider: provider as ModelPrice['provider'], model, effectiveFrom: '1970-01-01' }, source: 'fallback' }
  }
  return null
}

const perToken = (dollarsPerMillion: string) => new Decimal(dollarsPerMillion).times(NANOS_PER_USD.toString()).dividedBy(1_000_000)
const nanos = (d: Decimal) => BigInt(d.toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0))

/** Exact cost of normalised usage at a price. */
export function costOf(usage: NormalizedUsage, price: ModelPrice): { inputCostNanos: bigint; outputCostNanos: bigint } {
  const uncached = Math.max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens)
  const input = perToken(price.input)
    .times(uncached)
    .plus(perToken(price.cachedInput).times(usage.cachedInputTokens))
    .plus(perToken(price.cacheWrite).times(usage.cacheWriteTokens))
  return { inputCostNanos: nanos(input), outputCostNanos: nanos(perToken(price.output).times(usage.outputTokens)) }
}

export function priceUsage(provider: string, model: string, usage: NormalizedUsage, at: Date, options: PricingOptions = {}): PricedUsage {
  assertUsage(usage)
  const found = findPrice(provider, model, at, options)
  if (!found) throw new UnknownModelError(provider, model)
  return { ...costOf(usage, found.price), ...found }
}

/** Upper bound of a call's cost, for the reservation: input at full price + maxOutput at output price. */
export function estimateCost(provider: string, model: string, inputTokens: number, maxOutputTokens: number, at: Date, options: PricingOptions = {}): bigint {
  const found = findPrice(provider, model, at, options)
  if (!found) throw new UnknownModelError(provider, model)
  const cost = costOf({ inputTokens, outputTokens: maxOutputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, found.price)
  return cost.inputCostNanos + cost.outputCostNanos
}
