/**
 * Errors → HTTP responses, in one place. Every error answer is `{ error: { type, message, requestId,
 * … } }` — the shape the OpenAI and Anthropic SDKs already read (`err.error.type`, their status
 * classes: 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 429
 * RateLimitError) — with the request's id in the body and the `x-request-id` header.
 *
 *   no key → 401 missing_api_key             malformed / unknown key, deleted tenant → 401 invalid_api_key
 *   revoked / expired key → 403               inactive tenant → 403 tenant_inactive
 *   another tenant's id, unknown id/route → 404 (an id of another tenant is never revealed to exist)
 *   bad input → 400 (param + allowed)         body over the limit → 413
 *   rate window / hard budget → 429 with Retry-After (whole seconds, rounded up) and RateLimit headers
 *   provider failed → 502                     breaker open, admission undecided, no provider key → 503
 *   anything else → 500 with no details (reported to `onError`)
 */
import { LlmTenantError } from '../foundation/errors.js'
import { BudgetExceededError, RateLimitExceededError } from '../budget/errors.js'
import { retryAfterSeconds } from '../budget/rate-status.js'
import { ProviderError } from '../providers/errors.js'
import { JsonReply } from './reply.js'

/** An answer the HTTP layer decides itself (routing, auth, body and query checks). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export interface ErrorReply {
  status: number
  body: { error: Record<string, unknown> & { type: string; message: string } }
  headers: Record<string, string>
  /** True for a refusal by a rate window or budget (the handler adds the RateLimit headers). */
  limited: boolean
  /** True when the error was not one the library throws on purpose: report it, answer nothing of it. */
  unexpected: boolean
}

const reply = (status: number, type: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): ErrorReply => ({
  status,
  body: { error: { type, message, ...extra } },
  headers,
  limited: false,
  unexpected: false,
})

/** The period of a budget limit type: what resets when the refusal ends. */
const budgetWindow = (limitType: string): 'day' | 'month' | null => (limitType.startsWith('daily') ? 'day' : limitType.startsWith('monthly') ? 'month' : null)

const figure = (v: unknown) => (typeof v === 'number' ? v : String((v as { toFixed(): string }).toFixed()))

function budgetReply(err: BudgetExceededError): ErrorReply {
  // maxConcurrent frees up when a call in flight ends: no reset time, so try again in a second.
  const retryAfter = retryAfterSeconds(err) ?? (err.limitType === 'maxConcurrent' ? 1 : null)
  const r = reply(
    429,
    'budget_exceeded',
    err.message,
    {
      code: err.code,
      limitType: err.limitType,
      window: budgetWindow(err.limitType),
      retryAfter,
      scope: err.scope,
      limit: figure(err.limit),
      current: figure(err.current),
      resetsAt: err.retryAfter?.toISOString() ?? null,
    },
    retryAfter === null ? {} : { 'retry-after': String(retryAfter) },
  )
  return { ...r, limited: true }
}

function rateReply(err: RateLimitExceededError): ErrorReply {
  const retryAfter = retryAfterSeconds(err) // null: the call is larger than the whole window
  const r = reply(
    429,
    'rate_limited',
    err.message,
    {
      code: err.code,
      limitType: err.limitType,
      limitName: err.limitName,
      window: err.window,
      retryAfter,
      scope: err.scope,
      limit: err.limit,
      resetsAt: err.resetsAt?.toISOString() ?? null,
    },
    retryAfter === null ? {} : { 'retry-after': String(retryAfter) },
  )
  return { ...r, limited: true }
}

/** Library errors by code that need no fields of their own. */
const BY_CODE: Record<string, [number, string, string | null]> = {
  INVALID_API_KEY: [401, 'invalid_api_key', 'Invalid API key'],
  API_KEY_REVOKED: [403, 'api_key_revoked', null],
  API_KEY_EXPIRED: [403, 'api_key_expired', null],
  TENANT_INACTIVE: [403, 'tenant_inactive', 'The tenant of this API key is deactivated'],
  AGENT_DISABLED: [403, 'agent_disabled', null],
  API_KEY_NOT_FOUND: [404, 'not_found', 'No such API key'],
  UNKNOWN_AGENT: [404, 'not_found', 'No such agent'],
  CIRCUIT_OPEN: [503, 'service_unavailable', 'The agent is temporarily unavailable (its provider keeps failing); try again later'],
  ADMISSION_FAILED: [503, 'service_unavailable', 'The call could not be admitted right now; try again later'],
  MISSING_API_KEY: [503, 'provider_not_configured', 'No provider key is configured for this agent'],
  MISSING_PROVIDER_SDK: [503, 'provider_not_configured', "The agent's provider SDK is not installed on the server"],
  ALL_MODELS_EXHAUSTED: [502, 'provider_error', "The agent's model and every fallback failed"],
  MAX_STEPS_EXCEEDED: [502, 'agent_error', 'The agent did not finish within its step limit'],
}

/** What an error becomes on the wire. Unexpected errors say nothing of themselves. */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof HttpError) return reply(err.status, err.type, err.message, err.extra, err.headers)
  if (err instanceof BudgetExceededError) return budgetReply(err)
  if (err instanceof RateLimitExceededError) return rateReply(err)
  if (err instanceof ProviderError) {
    const r = reply(502, 'provider_error', `The provider failed (${err.name})`, { provider: err.provider, model: err.model, providerStatus: err.status })
    return r
  }
  if (err instanceof LlmTenantError) {
    if (err.code === 'INVALID_ARGUMENT') {
      const e = err as LlmTenantError & { field: string; allowed: string }
      return reply(400, 'invalid_request', err.message, { param: e.field, allowed: e.allowed })
    }
    const known = BY_CODE[err.code]
    if (known) {
      const [status, type, message] = known
      return reply(status, type, message ?? err.message, { code: err.code })
    }
  }
  if (isAbort(err)) return reply(499, 'client_closed_request', 'The client closed the request')
  return { ...reply(500, 'internal_error', 'Internal error'), unexpected: true }
}

function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError'
}

/** The JSON answer of an error reply, with the request id in the body and the headers. */
export function errorJson(r: ErrorReply, requestId: string, extraHeaders: Record<string, string> = {}): JsonReply {
  const body = { error: { ...r.body.error, requestId } }
  return jsonReply(r.status, body, requestId, { ...r.headers, ...extraHeaders })
}

/** Headers every answer carries. */
export function baseHeaders(requestId: string): Record<string, string> {
  return { 'x-request-id': requestId, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
}

export function jsonReply(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): JsonReply {
  return new JsonReply(status, { 'content-type': 'application/json; charset=utf-8', ...baseHeaders(requestId), ...headers }, JSON.stringify(body))
}
