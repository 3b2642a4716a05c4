/**
 * Redaction of credential-shaped data before anything reaches the ledger. RubyLLM::Agents once
 * wrote a plaintext provider key into its ledger via metadata; every write path goes through here.
 */
export const REDACTED = '[REDACTED]'

/** Normalised (lowercase, alphanumerics only) key fragments that mark a value as a credential. */
const CREDENTIAL_KEY_PARTS = [
  'apikey',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'authorization',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'bearer',
  'sessiontoken',
  'idtoken',
  'credential',
  'privatekey',
  'accesskey',
  'signingkey',
  'encryptionkey',
  'cookie',
]

/**
 * Values that look like provider keys, bearer headers or this library's tenant API keys
 * (`<prefix>_<30 base62>`), wherever they appear in text.
 */
const CREDENTIAL_VALUE =
  /\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{12,}|Bearer\s+[A-Za-z0-9._~+/=-]{12,}|[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16}){0,2}_[0-9A-Za-z]{30}(?![0-9A-Za-z]))/g

export function isCredentialKey(key: string): boolean {
  const normalised = key.toLowerCase().replace(/[^a-z0-9]/g, '')
  if (normalised === 'key' || normalised === 'token') return true
  return CREDENTIAL_KEY_PARTS.some((part) => normalised.includes(part))
}

/**
 * Replaces provider-key-shaped substrings of free text (e.g. an upstream error message), and NUL
 * characters: PostgreSQL rejects them in text and jsonb, so one NUL in a provider's error message
 * would make every attempt to record the call fail (SQLite would store it: both store U+FFFD now).
 */
export function redactText(text: string): string {
  return text.replace(CREDENTIAL_VALUE, REDACTED).replaceAll('\u0000', '\uFFFD')
}

/**
 * Deep copy of `value` with credential-shaped keys replaced by `[REDACTED]` and key-shaped strings
 * scrubbed. Non-JSON values (functions, symbols, bigint, cycles) are rejected by the caller's
 * validation; here they are dropped or stringified defensively.
 */
export function redactMetadata(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value)
  if (value === null || typeof value !== 'object') return value
  if (seen.has(value)) return '[Circular]'
  seen.add(value)
  if (Array.isArray(value)) return value.map((item) => redactMetadata(item, seen))
  if (value instanceof Date) return value.toISOString()
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    out[key.replaceAll('\u0000', '\uFFFD')] = isCredentialKey(key) && item !== null && item !== undefined ? REDACTED : redactMetadata(item, seen)
  }
  return out
}

/**
 * A copy of an error that is safe to keep (e.g. as another error's `cause`): same name, code and
 * (redacted) message and stack; its own cause redacted the same way. Nothing else of the original is
 * kept — other properties may hold request data (headers, bodies, the app's rows).
 */
export function redactError(err: unknown, depth = 0): Error {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown; cause?: unknown }
  const copy = new Error(redactText(typeof err === 'object' && err !== null ? String(e.message ?? '') : String(err)))
  copy.name = typeof e.name === 'string' ? e.name : 'Error'
  copy.stack = typeof e.stack === 'string' ? redactText(e.stack) : `${copy.name}: ${copy.message}`
  if (typeof e.code === 'string' || typeof e.code === 'number') Object.assign(copy, { code: e.code })
  if (e.cause !== undefined && depth < 5) Object.assign(copy, { cause: redactError(e.cause, depth + 1) })
  return copy
}
