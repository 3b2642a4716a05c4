/**
 * Provider failures as our own error type: status, retryability and retry-after, with a message
 * scrubbed of the key used for the call. The SDK's error object is not kept (it carries request
 * headers), so nothing downstream can leak the key by inspecting `cause`.
 */
import { LlmTenantError } from '../foundation/errors.js'
import { redactText } from '../foundation/redact.js'
import { MAX_TOKENS } from '../foundation/validation.js'

export class ProviderError extends LlmTenantError {
  readonly provider: string
  readonly model: string
  /** HTTP status, when the provider answered. */
  readonly status: number | null
  /** The SDK error class name, e.g. RateLimitError, APIConnectionTimeoutError. */
  readonly errorClass: string
  readonly retryable: boolean
  /** Milliseconds the provider asked us to wait (retry-after), if any. */
  readonly retryAfterMs: number | null

  constructor(details: {
    provider: string
    model: string
    status: number | null
    errorClass: string
    message: string
    retryable: boolean
    retryAfterMs: number | null
  }) {
    super('PROVIDER_ERROR', `${details.provider} ${details.model}: ${details.message}`)
    // The ledger's error class and `err.name` say what failed (RateLimitError, TimeoutError, …).
    this.name = details.errorClass
    this.provider = details.provider
    this.model = details.model
    this.status = details.status
    this.errorClass = details.errorClass
    this.retryable = details.retryable
    this.retryAfterMs = details.retryAfterMs
  }
}

/** The provider's official SDK (an optional peer dependency) is not installed in the app. */
export class MissingProviderSdkError extends LlmTenantError {
  readonly provider: string
  /** The npm package to install, e.g. `@anthropic-ai/sdk`. */
  readonly packageName: string
  /** e.g. `npm install @anthropic-ai/sdk`. */
  readonly installCommand: string
  constructor(provider: string, packageName: string) {
    const installCommand = `npm install ${packageName}`
    super(
      'MISSING_PROVIDER_SDK',
      `The ${provider} SDK is not installed: agents with provider '${provider}' need the package ${packageName} (run \`${installCommand}\`)`,
    )
    this.provider = provider
    this.packageName = packageName
    this.installCommand = installCommand
  }
}

/** The provider answered 200 with a body that breaks its API contract (e.g. a negative token count). */
class MalformedResponseError extends Error {
  override name = 'MalformedResponseError'
}

/**
 * A token count from a provider's usage block: absent (undefined/null) = 0. Anything else that is not
 * an integer from 0 to MAX_TOKENS (negative, fractional, non-numeric, huge) makes the response
 * malformed: it is never clamped to 0 (that would price the call at $0) nor passed on.
 */
export function usageCount(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_TOKENS) return value
  throw new MalformedResponseError(`Malformed response: ${field} is ${JSON.stringify(value)}; allowed: an integer from 0 to ${MAX_TOKENS}`)
}

function retryAfter(headers: unknown): number | null {
  const get = (name: string): string | null => {
    if (!headers) return null
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name)
    return ((headers as Record<string, string>)[name] ?? null) as string | null
  }
  const ms = get('retry-after-ms')
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.round(Number(ms))
  const value = get('retry-after')
  if (!value) return null
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now())
}

/** Maps any SDK / network error to a ProviderError with every occurrence of `secret` removed. */
export function toProviderError(err: unknown, provider: string, model: string, secret: string): ProviderError | Error {
  const e = err as { name?: string; status?: number; headers?: unknown; message?: string; constructor?: { name?: string } }
  const errorClass = e?.constructor?.name && e.constructor.name !== 'Object' ? e.constructor.name : (e?.name ?? 'Error')
  if (errorClass === 'APIUserAbortError' || e?.name === 'AbortError') {
    const abort = new Error('The call was aborted by the caller')
    abort.name = 'AbortError'
    return abort
  }
  const status = typeof e?.status === 'number' ? e.status : null
  const timeout = /Timeout/i.test(errorClass)
  const connection = /Connection/i.test(errorClass) || status === null
  const retryable = timeout || connection || status === 408 || status === 409 || status === 429 || (status !== null && status >= 500)
  const scrub = (text: string) => redactText(secret ? text.split(secret).join('[REDACTED]') : text)
  return new ProviderError({
    provider,
    model,
    status,
    errorClass: timeout ? 'TimeoutError' : errorClass,
    message: scrub(String(e?.message ?? err)).slice(0, 1000),
    retryable,
    retryAfterMs: retryAfter(e?.headers),
  })
}
