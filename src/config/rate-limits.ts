/**
 * Rate limits: requests and tokens per second, minute, hour and day — their input shape
 * (`{ requestsPerMinute: 60, tokensPerMinute: 100_000 }`), validation and parsed form. A rate
 * limit of 0 admits nothing; `null` = no limit. Each limit is enforced by GCRA (gcra.ts): at most
 * `limit` at once, refilling continuously at `limit` per window.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertIdentifier } from '../foundation/validation.js'

export const RATE_WINDOWS = ['second', 'minute', 'hour', 'day'] as const
export type RateWindow = (typeof RATE_WINDOWS)[number]
export const RATE_MEASURES = ['requests', 'tokens'] as const
export type RateMeasure = (typeof RATE_MEASURES)[number]

/** Window lengths in nanoseconds (GCRA runs on a nanosecond clock: see gcra.ts). */
export const WINDOW_NS: Record<RateWindow, bigint> = {
  second: 1_000_000_000n,
  minute: 60_000_000_000n,
  hour: 3_600_000_000_000n,
  day: 86_400_000_000_000n,
}

/** The option names, e.g. `requestsPerMinute`, `tokensPerDay`. */
export const RATE_LIMIT_KEYS = RATE_MEASURES.flatMap((m) => RATE_WINDOWS.map((w) => `${m}Per${w[0].toUpperCase()}${w.slice(1)}`)) as RateLimitKey[]
export type RateLimitKey = `${RateMeasure}Per${Capitalize<RateWindow>}`

/** Rate limits as the API accepts them; `null` = no limit (or, on a tenant, inherit). */
export type RateLimitsInput = Partial<Record<RateLimitKey, number | null>>

/** Parsed: per key the limit (a count of requests or tokens per window), `null` = explicitly none. */
export type RateLimitValues = Partial<Record<RateLimitKey, bigint | null>>

/** Per-agent rate limits: `{ [agentType]: RateLimitsInput }`. */
export type AgentRateLimitsInput = Record<string, RateLimitsInput>
export type AgentRateLimitValues = Record<string, RateLimitValues>

/** The largest limit accepted: one more than a nanosecond clock can pace in a second's window would be pointless. */
const MAX_RATE = 1_000_000_000

export function splitRateLimitKey(key: RateLimitKey): { measure: RateMeasure; window: RateWindow } {
  const measure = key.startsWith('requests') ? 'requests' : 'tokens'
  const window = key.slice(measure.length + 3).toLowerCase() as RateWindow
  return { measure, window }
}

/** Validates rate limits (`{ requestsPerMinute, tokensPerDay, … }`); unknown windows and bad values name the field. */
export function parseRateLimits(input: unknown, field: string): RateLimitValues {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError(field, `an object with any of: ${RATE_LIMIT_KEYS.join(', ')}`, input)
  const out: RateLimitValues = {}
  for (const [key, value] of Object.entries(input)) {
    if (!(RATE_LIMIT_KEYS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${field}.${key}`, `one of the rate limits ${RATE_LIMIT_KEYS.join(', ')} (windows: ${RATE_WINDOWS.join(', ')})`, key)
    }
    if (value === undefined) continue
    if (value === null) {
      out[key as RateLimitKey] = null
      continue
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_RATE) {
      throw new InvalidArgumentError(`${field}.${key}`, `an integer from 0 to ${MAX_RATE} per window, or null for no limit`, value)
    }
    out[key as RateLimitKey] = BigInt(value)
  }
  return out
}

export function parseAgentRateLimits(input: unknown, field: string): AgentRateLimitValues {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input))
    throw new InvalidArgumentError(field, '{ [agentType]: { requestsPerMinute?, tokensPerMinute?, … } }', input)
  const out: AgentRateLimitValues = {}
  for (const [agent, limits] of Object.entries(input as Record<string, unknown>)) {
    assertIdentifier(agent, `${field} agent type`, 255)
    out[agent] = parseRateLimits(limits, `${field}.${agent}`)
  }
  return out
}

/** Stored form (JSON column): limits as decimal strings, nulls kept. */
export function rateLimitsToJson(values: RateLimitValues): Record<string, string | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === null || v === undefined ? null : v.toString()]))
}

/** Reads the stored form back (a JSON column that may be null). */
export function rateLimitsFromJson(json: unknown): RateLimitValues {
  if (!json || typeof json !== 'object') return {}
  const out: RateLimitValues = {}
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    if ((RATE_LIMIT_KEYS as readonly string[]).includes(k)) out[k as RateLimitKey] = v === null || v === undefined ? null : BigInt(String(v))
  }
  return out
}

export function agentRateLimitsToJson(values: AgentRateLimitValues): Record<string, Record<string, string | null>> {
  return Object.fromEntries(Object.entries(values).map(([agent, v]) => [agent, rateLimitsToJson(v)]))
}

export function agentRateLimitsFromJson(json: unknown): AgentRateLimitValues {
  if (!json || typeof json !== 'object') return {}
  return Object.fromEntries(Object.entries(json as Record<string, unknown>).map(([agent, v]) => [agent, rateLimitsFromJson(v)]))
}

/** For records the API returns: the limits as numbers (they are at most 1e9). */
export function rateLimitsAsNumbers(values: RateLimitValues): Partial<Record<RateLimitKey, number | null>> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === null || v === undefined ? null : Number(v)]))
}
