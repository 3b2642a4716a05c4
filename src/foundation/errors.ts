import { redactText } from './redact.js'

/**
 * The base of every error the library throws on purpose (`LlmTenantError`, so apps can
 * `instanceof`-check one class) and the errors of the foundation: bad input and schema mismatch.
 * The errors of each layer live with it (budget/errors.ts, agents/errors.ts, providers/errors.ts);
 * src/errors.ts gathers them for the public `prisma-llm-tenant/errors` entry.
 */

export class LlmTenantError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_ARGUMENT`. */
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * Bad input to a public entry point. Thrown before anything is written.
 * `field` names the offending argument (dotted path); `allowed` describes what is accepted.
 */
export class InvalidArgumentError extends LlmTenantError {
  readonly field: string
  readonly allowed: string

  constructor(field: string, allowed: string, received: unknown) {
    super('INVALID_ARGUMENT', `Invalid ${field}: ${describe(received)}. Allowed: ${allowed}.`)
    this.field = field
    this.allowed = allowed
  }
}

/** A short, safe rendering of a rejected value (never the whole object: it may hold secrets). */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  // Key-shaped strings are redacted before they are shortened (a cut key would no longer match).
  if (typeof value === 'string') {
    const safe = redactText(value)
    return JSON.stringify(safe.length > 60 ? `${safe.slice(0, 57)}...` : safe)
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()
  if (Array.isArray(value)) return 'an array'
  return `a value of type ${typeof value}`
}

/** The database schema is missing the library's tables, or they do not match the shipped DDL. */
export class SchemaMismatchError extends LlmTenantError {
  constructor(message: string) {
    super('SCHEMA_MISMATCH', message)
  }
}
