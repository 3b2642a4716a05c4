/**
 * Typed errors. Every error the library throws on purpose extends `LlmTenantError`, so apps can
 * `instanceof`-check one class; each subclass carries machine-readable fields.
 */
import { redactError } from './ledger/redact.js'

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

/** A hard limit refused the call before the provider was contacted. */
export class BudgetExceededError extends LlmTenantError {
  readonly scope: 'tenant' | 'global' | 'agent'
  readonly limitType: string
  /** Dollars (decimal string) for cost limits, a count otherwise. */
  readonly limit: string
  /** Usage at refusal time: settled + reserved by calls in flight. */
  readonly current: string
  readonly tenantId: string | null
  readonly agentType: string | null

  constructor(details: {
    scope: 'tenant' | 'global' | 'agent'
    limitType: string
    limit: string
    current: string
    tenantId: string | null
    agentType: string | null
    isCost: boolean
  }) {
    const fmt = (v: string) => (details.isCost ? `$${v}` : v)
    const who =
      details.scope === 'global'
        ? 'global budget'
        : details.scope === 'agent'
          ? `agent "${details.agentType}" budget${details.tenantId ? ` of tenant "${details.tenantId}"` : ' (all tenants)'}`
          : `tenant "${details.tenantId}"`
    super(
      'BUDGET_EXCEEDED',
      `Budget exceeded: ${who} ${details.limitType} limit ${fmt(details.limit)} would be exceeded (current ${fmt(details.current)}; agent ${details.agentType ?? 'none'})`,
    )
    this.scope = details.scope
    this.limitType = details.limitType
    this.limit = details.limit
    this.current = details.current
    this.tenantId = details.tenantId
    this.agentType = details.agentType
  }
}

/** The tenant is deactivated: its calls are refused. */
export class TenantInactiveError extends LlmTenantError {
  readonly tenantId: string
  constructor(tenantId: string) {
    super('TENANT_INACTIVE', `Tenant "${tenantId}" is inactive; its LLM calls are refused`)
    this.tenantId = tenantId
  }
}

/**
 * Admission could not decide (database error, resolver threw) and the fail mode is 'closed':
 * the call is refused rather than silently admitted.
 */
export class AdmissionError extends LlmTenantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADMISSION_FAILED', message)
    // The cause is kept for diagnosis, redacted like the message: it may be an app callback's error
    // quoting a row with the tenant's key, or a driver error carrying request data.
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = redactError(options.cause)
  }
}
