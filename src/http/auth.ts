/**
 * Who is calling: the tenant API key of the request — `Authorization: Bearer <key>` or
 * `x-api-key: <key>` — verified by the key store (checksum first, then one cached lookup by hash).
 * The tenant comes from the key and only from the key: no route reads a tenant from the body,
 * the query or another header.
 *
 *   no key                                         → 401 missing_api_key
 *   not `Bearer <one token>`, two different keys,
 *   malformed, unknown, tenant deleted             → 401 invalid_api_key (the same answer for all:
 *                                                    which one it was is for logs, not for guessers)
 *   revoked (or rotated out past its grace period) → 403 api_key_revoked
 *   expired                                        → 403 api_key_expired
 *   tenant deactivated                             → 403 tenant_inactive
 */
import { InvalidApiKeyError } from '../keys/errors.js'
import type { LlmApiKeys } from '../keys/api-keys.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import { HttpError } from './errors.js'

export interface Caller {
  /** The tenant the key belongs to: every route acts for it alone. */
  tenantId: string
  /** The key (its stable id, also when a rotated-out secret was presented). */
  key: ApiKeyRecord
  /** Set when the secret presented was rotated out: it works until then. */
  rotatedSecretRetiresAt: Date | null
}

const CHALLENGE = 'Bearer realm="prisma-llm-tenant"'
/** Longest header value looked at: a key is well under 100 characters. */
const MAX_KEY_HEADER = 512

function invalid(message = 'Invalid API key'): HttpError {
  return new HttpError(401, 'invalid_api_key', message, {}, { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` })
}

/** The raw key of the request, from exactly one of the two headers (or the same key in both). */
function presentedKey(headers: Headers): string {
  const authorization = headers.get('authorization')
  const apiKey = headers.get('x-api-key')
  if (authorization === null && apiKey === null) {
    throw new HttpError(
      401,
      'missing_api_key',
      'Send your API key as "Authorization: Bearer <key>" or "x-api-key: <key>"',
      {},
      { 'www-authenticate': CHALLENGE },
    )
  }
  let fromBearer: string | null = null
  if (authorization !== null) {
    if (authorization.length > MAX_KEY_HEADER) throw invalid()
    const m = /^Bearer +([^\s,]+)$/i.exec(authorization)
    if (!m) throw invalid('The Authorization header must be "Bearer <key>"')
    fromBearer = m[1]
  }
  if (apiKey !== null && (apiKey.length === 0 || apiKey.length > MAX_KEY_HEADER || /[\s,]/.test(apiKey))) throw invalid()
  if (fromBearer !== null && apiKey !== null && fromBearer !== apiKey) throw invalid('Send one API key, not two different ones')
  return (fromBearer ?? apiKey) as string
}

/** Verifies the request's key; a refusal is an HttpError (401) or the key store's own error (403). */
export async function authenticate(headers: Headers, keys: LlmApiKeys): Promise<Caller> {
  const raw = presentedKey(headers)
  try {
    const verified = await keys.verifyApiKey(raw)
    return { tenantId: verified.tenantId, key: verified.key, rotatedSecretRetiresAt: verified.rotatedSecret?.retiresAt ?? null }
  } catch (err) {
    if (err instanceof InvalidApiKeyError) throw invalid()
    throw err // revoked, expired, inactive tenant: 403 (errors.ts); anything else: 500
  }
}
