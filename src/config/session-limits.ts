/**
 * Conversation-store limits (docs/sessions.md): retention per session (`maxItems`, `maxAge`) and a
 * storage quota per tenant (`storageBytes`). A plan sets them (its `sessions` field, stored as the
 * `session_limits` JSON of llm_plans); the store's options give the defaults and per-tenant values.
 * A key absent inherits; `null` is "no limit", set on purpose.
 */
import { InvalidArgumentError } from '../foundation/errors.js'

export interface SessionLimitsInput {
  /** Most items kept per session: an append beyond it drops the oldest. */
  maxItems?: number | null
  /** Seconds an item is kept: older items are never returned, and are deleted on the next append or `prune()`. */
  maxAge?: number | null
  /** Bytes of stored items (UTF-8 JSON) per tenant, all its sessions together: an append beyond it is refused. */
  storageBytes?: number | bigint | null
}

export interface SessionLimits {
  maxItems: number | null
  maxAge: number | null
  storageBytes: bigint | null
}

const KEYS = ['maxItems', 'maxAge', 'storageBytes'] as const
const MAX_INT = 2_147_483_647

function count(value: unknown, field: string, max: number): number | null {
  if (value === null) return null
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw new InvalidArgumentError(field, `an integer from 1 to ${max}, or null`, value)
  return value
}

/** Validates limits; returns only the keys given (null = none on purpose). */
export function parseSessionLimits(input: unknown, field = 'sessions'): Partial<SessionLimits> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(field, `an object with any of: ${KEYS.join(', ')}`, input)
  }
  const out: Partial<SessionLimits> = {}
  for (const [key, value] of Object.entries(input)) {
    if (!(KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of: ${KEYS.join(', ')}`, key)
    if (value === undefined) continue
    if (key === 'maxItems') out.maxItems = count(value, `${field}.maxItems`, 1_000_000)
    else if (key === 'maxAge') out.maxAge = count(value, `${field}.maxAge`, MAX_INT)
    else {
      const bytes = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value
      if (bytes !== null && (typeof bytes !== 'bigint' || bytes < 1n || bytes > 9_223_372_036_854_775_807n)) {
        throw new InvalidArgumentError(`${field}.storageBytes`, 'a whole number of bytes >= 1 (a number or a bigint), or null', value)
      }
      out.storageBytes = bytes as bigint | null
    }
  }
  return out
}

/** Parsed limits → the JSON stored on a plan (bytes as a decimal string: JSON has no 64-bit integers). */
export function sessionLimitsToJson(limits: Partial<SessionLimits>): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {}
  if (limits.maxItems !== undefined) out.maxItems = limits.maxItems
  if (limits.maxAge !== undefined) out.maxAge = limits.maxAge
  if (limits.storageBytes !== undefined) out.storageBytes = limits.storageBytes === null ? null : limits.storageBytes.toString()
  return out
}

/** A plan's stored JSON → its limits (the keys it sets). */
export function sessionLimitsFromJson(json: unknown): Partial<SessionLimits> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return {}
  const j = json as Record<string, unknown>
  const out: Partial<SessionLimits> = {}
  if ('maxItems' in j) out.maxItems = typeof j.maxItems === 'number' ? j.maxItems : null
  if ('maxAge' in j) out.maxAge = typeof j.maxAge === 'number' ? j.maxAge : null
  if ('storageBytes' in j) out.storageBytes = typeof j.storageBytes === 'string' || typeof j.storageBytes === 'number' ? BigInt(j.storageBytes) : null
  return out
}

/** Layers limits: each key from the first layer that sets it (null included), else none. */
export function resolveSessionLimits(...layers: Array<Partial<SessionLimits> | null | undefined>): SessionLimits {
  const pick = <K extends keyof SessionLimits>(key: K): SessionLimits[K] => {
    for (const layer of layers) if (layer && layer[key] !== undefined) return layer[key] as SessionLimits[K]
    return null as SessionLimits[K]
  }
  return { maxItems: pick('maxItems'), maxAge: pick('maxAge'), storageBytes: pick('storageBytes') }
}
