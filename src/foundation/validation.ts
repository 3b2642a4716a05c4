/**
 * Input validation shared by every layer: identifiers, token counts, dates, metadata and query
 * objects. Each check throws InvalidArgumentError naming the field and what is allowed, before
 * anything is written.
 */
import { InvalidArgumentError } from './errors.js'
import { redactMetadata } from './redact.js'

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** Per-row token columns are 32-bit INTEGER. */
export const MAX_TOKENS = 2_147_483_647

export function assertTokenCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TOKENS) {
    throw new InvalidArgumentError(field, `an integer from 0 to ${MAX_TOKENS}`, value)
  }
  return value
}

export function assertIdentifier(value: unknown, field: string, maxLength = 1024): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new InvalidArgumentError(field, `a non-empty string of at most ${maxLength} characters`, value)
  }
  return value
}

export function assertTenantId(value: unknown, field = 'tenantId'): string | null {
  if (value === null || value === undefined) return null
  return assertIdentifier(value, field)
}

export function assertDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidArgumentError(field, 'a valid Date', value)
  return value
}

/** Validates metadata (a plain JSON object or null) and returns its redacted JSON copy. */
export function toMetadataJson(value: unknown, field = 'metadata'): JsonValue | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(field, 'a plain JSON object or null', value)
  }
  let json: string
  try {
    json = JSON.stringify(redactMetadata(value), (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      return v
    })
  } catch {
    throw new InvalidArgumentError(field, 'a JSON-serialisable object', value)
  }
  return JSON.parse(json) as JsonValue
}

/**
 * Throws unless `query` is a plain object whose keys are all in `keys`: a misspelt key (`tenant`
 * for `tenantId`) must not silently widen a query to every tenant or to the default period.
 */
export function assertQuery(query: unknown, keys: readonly string[], field = 'query'): void {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw new InvalidArgumentError(field, `an object with any of: ${keys.join(', ')}`, query)
  }
  for (const key of Object.keys(query)) {
    if (!keys.includes(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of the keys: ${keys.join(', ')}`, key)
  }
}

export function assertLimit(value: unknown, field = 'limit', max = 10_000): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(field, `an integer from 1 to ${max}`, value)
  }
  return value
}
