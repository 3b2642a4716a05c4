/**
 * Why a tenant API key was refused. Messages name the key by its id or visible start, never the
 * secret. InvalidApiKeyError covers malformed, unknown and orphaned keys alike (`reason` says which
 * for logs; an HTTP layer answers all of them with the same 401).
 */
import { LlmTenantError } from '../foundation/errors.js'
import { redactText } from '../foundation/redact.js'

export class InvalidApiKeyError extends LlmTenantError {
  readonly reason: 'malformed' | 'unknown' | 'tenant_deleted'
  constructor(reason: 'malformed' | 'unknown' | 'tenant_deleted') {
    super('INVALID_API_KEY', reason === 'malformed' ? 'Invalid API key: not a key of this service' : 'Invalid API key')
    this.reason = reason
  }
}

export class ApiKeyRevokedError extends LlmTenantError {
  readonly keyId: string
  readonly revokedAt: Date
  constructor(keyId: string, revokedAt: Date) {
    super('API_KEY_REVOKED', `API key ${keyId} was revoked at ${revokedAt.toISOString()}`)
    this.keyId = keyId
    this.revokedAt = revokedAt
  }
}

export class ApiKeyExpiredError extends LlmTenantError {
  readonly keyId: string
  readonly expiredAt: Date
  constructor(keyId: string, expiredAt: Date) {
    super('API_KEY_EXPIRED', `API key ${keyId} expired at ${expiredAt.toISOString()}`)
    this.keyId = keyId
    this.expiredAt = expiredAt
  }
}

export class ApiKeyNotFoundError extends LlmTenantError {
  readonly keyId: string
  constructor(keyId: string) {
    // An id given by mistake may be a raw key: it is redacted like any key-shaped text.
    const safe = redactText(keyId)
    super('API_KEY_NOT_FOUND', `No API key ${safe}`)
    this.keyId = safe
  }
}
