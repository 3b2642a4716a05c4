/**
 * The dated price table: US dollars per million tokens, as decimal strings (never floats), with the
 * date each price took effect. Sources: the providers' public pricing pages (OpenAI API pricing,
 * Anthropic pricing), as of the dates given. Extend or override any entry through
 * `config.pricing.prices`; a later `effectiveFrom` for the same model supersedes an earlier one
 * from that date on.
 *
 * We evaluated @pydantic/genai-prices (the most complete npm price-data package): it computes in JS
 * floats and fetches fresh price data over the network at run time, which our exact-money and
 * no-network rules exclude, so the table lives here and the arithmetic is ours (decimal.js).
 */
import { Decimal } from '../foundation/money.js'

export interface ModelPrice {
  provider: 'openai' | 'anthropic'
  /** Model id; dated snapshots (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) match by prefix. */
  model: string
  /** ISO date (UTC) from which this price applies. */
  effectiveFrom: string
  /** $ per 1M input tokens (uncached). */
  input: string
  /** $ per 1M output tokens (reasoning tokens are billed as output). */
  output: string
  /** $ per 1M cached input tokens (cache reads). */
  cachedInput: string
  /** $ per 1M cache-write tokens (Anthropic prompt caching, 5-minute TTL); OpenAI has none. */
  cacheWrite: string
}

const openai = (model: string, effectiveFrom: string, input: string, cachedInput: string, output: string): ModelPrice => ({
  provider: 'openai',
  model,
  effectiveFrom,
  input,
  output,
  cachedInput,
  cacheWrite: '0',
})
// Anthropic: cache writes (5-minute TTL) cost 1.25× input, cache reads 0.1× input.
const anthropic = (model: string, effectiveFrom: string, input: string, output: string): ModelPrice => ({
  provider: 'anthropic',
  model,
  effectiveFrom,
  input,
  output,
  cachedInput: new Decimal(input).times('0.1').toFixed(),
  cacheWrite: new Decimal(input).times('1.25').toFixed(),
})

export const DEFAULT_PRICES: readonly ModelPrice[] = [
  openai('gpt-4o', '2024-10-01', '2.50', '1.25', '10.00'),
  openai('gpt-4o-mini', '2024-07-18', '0.15', '0.075', '0.60'),
  openai('gpt-4.1', '2025-04-14', '2.00', '0.50', '8.00'),
  openai('gpt-4.1-mini', '2025-04-14', '0.40', '0.10', '1.60'),
  openai('gpt-4.1-nano', '2025-04-14', '0.10', '0.025', '0.40'),
  openai('o3', '2025-06-10', '2.00', '0.50', '8.00'),
  openai('o4-mini', '2025-04-16', '1.10', '0.275', '4.40'),
  openai('gpt-5', '2025-08-07', '1.25', '0.125', '10.00'),
  openai('gpt-5-mini', '2025-08-07', '0.25', '0.025', '2.00'),
  openai('gpt-5-nano', '2025-08-07', '0.05', '0.005', '0.40'),
  anthropic('claude-opus-4-5', '2025-11-24', '5', '25'),
  anthropic('claude-opus-4-1', '2025-08-05', '15', '75'),
  anthropic('claude-opus-4', '2025-05-22', '15', '75'),
  anthropic('claude-sonnet-4-5', '2025-09-29', '3', '15'),
  anthropic('claude-sonnet-4', '2025-05-22', '3', '15'),
  anthropic('claude-3-7-sonnet', '2025-02-24', '3', '15'),
  anthropic('claude-haiku-4-5', '2025-10-15', '1', '5'),
  anthropic('claude-3-5-haiku', '2024-10-22', '0.80', '4'),
]
