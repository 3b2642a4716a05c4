/**
 * What the conversation store keeps: items (any JSON object — our runtime's messages, the OpenAI
 * Agents SDK's `AgentInputItem`s), validated and serialised once, with their size and role; and
 * the ids that name a session. Ids are stored as they are, in their own columns next to the
 * tenant's — never joined into one key, pattern-matched or case-folded — so no two distinct
 * (tenant, session) pairs can meet in one row.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import type { JsonValue } from '../foundation/validation.js'
import { assertTenantValue, LONE_SURROGATE } from '../db/rls.js'

/** An item of a session's history: a JSON object. */
export type SessionItem = { [key: string]: JsonValue }

/** An item ready to insert. */
export interface StoredItem {
  value: JsonValue
  role: string | null
  bytes: number
  tokens: number
}

const MAX_SESSION_ID_LENGTH = 255
/** One item's largest JSON (bytes): bigger ones are refused before anything is written. */
const MAX_ITEM_BYTES = 8 * 1024 * 1024

/** A session id: 1–255 characters of well-formed Unicode without NUL; otherwise any string, stored as is. */
export function assertSessionId(value: unknown, field = 'sessionId'): string {
  const id = assertTenantValue(value, field)
  if (id.length > MAX_SESSION_ID_LENGTH) throw new InvalidArgumentError(field, `a string of 1 to ${MAX_SESSION_ID_LENGTH} characters`, id)
  return id
}

// NUL and lone surrogate halves have no place in a JSONB value (PostgreSQL refuses both).
const unstorable = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text)

function storable(value: JsonValue): boolean {
  if (typeof value === 'string') return !unstorable(value)
  if (value === null || typeof value !== 'object') return true
  if (Array.isArray(value)) return value.every(storable)
  return Object.entries(value).every(([k, v]) => !unstorable(k) && storable(v))
}

/** Validates and serialises one item; `tokens` defaults to an estimate (4 bytes a token). */
export function toStoredItem(item: unknown, field: string, tokens?: number): StoredItem {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new InvalidArgumentError(field, 'a JSON object (an item of the conversation)', item)
  let json: string
  try {
    json = JSON.stringify(item)
  } catch {
    throw new InvalidArgumentError(field, 'a JSON-serialisable object (no bigint, no cycles)', item)
  }
  const value = JSON.parse(json) as JsonValue // exactly what comes back: undefined fields dropped, dates as strings
  if (!storable(value)) throw new InvalidArgumentError(field, 'text without NUL characters or lone surrogate halves', '(item)')
  const bytes = Buffer.byteLength(json, 'utf8')
  if (bytes > MAX_ITEM_BYTES) throw new InvalidArgumentError(field, `an item of at most ${MAX_ITEM_BYTES} bytes of JSON`, `${bytes} bytes`)
  const o = item as Record<string, unknown>
  const role = typeof o.role === 'string' ? o.role : typeof o.type === 'string' ? o.type : null
  return {
    value,
    role: role === null ? null : role.slice(0, 64),
    bytes,
    tokens: tokens ?? Math.ceil(bytes / 4),
  }
}

/** `getItems`' limit: undefined = all; 0 or less = none (as the SDK's own sessions do). */
export function assertItemLimit(value: unknown, field = 'limit'): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new InvalidArgumentError(field, 'an integer (the most recent items to return), or undefined for all', value)
  return Math.max(0, value)
}
