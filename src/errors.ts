/**
 * Typed errors. Every error the library throws on purpose extends `LlmTenantError`, so apps can
 * `instanceof`-check one class; each subclass carries machine-readable fields.
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
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
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
