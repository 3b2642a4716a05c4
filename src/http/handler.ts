/**
 * `createLlmHttpHandler(prisma, options)`: the tenant HTTP API as one Fetch handler,
 * `(request: Request) => Promise<Response>` — framework-neutral; adapters.ts mounts it on
 * node:http, Express, Connect and Next.js route handlers, and Hono takes it as it is.
 *
 * Per request: a request id (`x-request-id`, in every answer and every error body, in the audit
 * events and ledger rows the request writes) → route (404 / 405 with `Allow`) → the caller's key
 * (401 / 403, auth.ts) → the route (400 / 413 for its input, request.ts) → JSON. Errors become
 * responses in errors.ts; refusals by a rate window or budget get the tenant's `RateLimit-Policy`
 * and `RateLimit` headers besides `Retry-After`. `GET {base}/openapi.json` needs no key.
 */
import { randomUUID } from 'node:crypto'
import { context, propagation, type TextMapGetter } from '@opentelemetry/api'
import { rateLimitHeaders } from '../budget/rate-status.js'
import { authenticate } from './auth.js'
import { createServices, normalizeBasePath, type LlmHttpOptions, type Route, type Services } from './context.js'
import { errorJson, errorReply, HttpError, type ErrorReply } from './errors.js'
import { openApiDocument } from './openapi.js'
import { JsonReply, setDirectAnswer, toResponse, type Answer } from './reply.js'
import { compileRoutes, matchRoute } from './route-match.js'
import { AGENT_ROUTES } from './routes-agents.js'
import { KEY_ROUTES } from './routes-keys.js'
import { USAGE_ROUTES } from './routes-usage.js'
import { errorFields, logTo } from '../telemetry/options.js'

export type { LlmHttpOptions } from './context.js'

export interface LlmHttpHandler {
  (request: Request): Promise<Response>
  /** Where the API is mounted ('' or e.g. '/api/llm'). */
  readonly basePath: string
  /** True when `pathname` is under the base path (adapters pass other requests on). */
  handles(pathname: string): boolean
  /** The OpenAPI 3.1 document served at `{basePath}/openapi.json`. */
  readonly openapi: Record<string, unknown>
}

export const ROUTES: Route[] = [...USAGE_ROUTES, ...KEY_ROUTES, ...AGENT_ROUTES]

const compiled = compileRoutes(ROUTES)

function clientGone(request: Request): boolean {
  try {
    return request.signal.aborted
  } catch {
    return false
  }
}

/** Reads a request's headers for the W3C trace-context propagator (`traceparent`, `tracestate`). */
const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => {
    const names: string[] = []
    headers.forEach((_, name) => void names.push(name)) // forEach: an app's lib may lack Headers' iterators
    return names
  },
}

const newRequestId = () => `req_${randomUUID().replaceAll('-', '')}`

export function createLlmHttpHandler(prisma: unknown, options: LlmHttpOptions): LlmHttpHandler {
  const services: Services = createServices(prisma, options)
  const basePath = normalizeBasePath(options.basePath)
  const openapi = openApiDocument(basePath)
  const openapiJson = JSON.stringify(openapi)
  const logger = services.config.logger
  const report =
    options.onError ??
    (logger
      ? (err: unknown, info: { requestId: string; method: string; path: string }) =>
          logTo(logger, 'error', { ...info, ...errorFields(err) }, 'Unexpected error in the HTTP API')
      : // Redacted like the logger's fields: an error may carry a request with a key.
        (err: unknown, info: { requestId: string }) => console.error(`[prisma-llm-tenant/http] ${info.requestId}`, errorFields(err)))
  const handles = (pathname: string) => basePath === '' || pathname === basePath || pathname.startsWith(`${basePath}/`)

  async function rateHeaders(r: ErrorReply, err: unknown, tenantId: string | null, apiKeyId: string | null): Promise<Record<string, string>> {
    if (!r.limited || tenantId === null) return {}
    try {
      const agentType = (err as { agentType?: string | null }).agentType ?? undefined
      // The windows the refused call was decided on: the tenant's and the key's own.
      const windows = await services.budgets.rateLimitStatus(tenantId, { ...(agentType ? { agentType } : {}), ...(apiKeyId ? { apiKeyId } : {}) })
      return rateLimitHeaders(windows, services.config.now())
    } catch {
      return {} // the refusal stands without its headers
    }
  }

  /** The answer as a JSON reply or a Response (adapters.ts writes JSON replies to node:http directly). */
  async function answer(request: Request): Promise<Answer> {
    const requestId = newRequestId()
    let tenantId: string | null = null
    let apiKeyId: string | null = null
    let path = '/'
    try {
      const url = new URL(request.url)
      path = url.pathname
      if (!handles(path)) throw new HttpError(404, 'not_found', 'No such route')
      const below = path.slice(basePath.length) || '/'
      if (request.method === 'GET' && below === '/openapi.json') {
        return new JsonReply(200, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId }, openapiJson)
      }
      // The scrape is the operator's, not a tenant's: no tenant key (the endpoint checks its own token).
      if (below === '/metrics' && services.metrics) return await services.metrics(request)
      const found = matchRoute(compiled, request.method, below)
      if (!found) throw new HttpError(404, 'not_found', 'No such route')
      if ('allow' in found) {
        throw new HttpError(
          405,
          'method_not_allowed',
          `Use ${found.allow.join(' or ')}`,
          { allowed: found.allow.join(', ') },
          { allow: found.allow.join(', ') },
        )
      }
      const caller = await authenticate(request.headers, services.keys)
      tenantId = caller.tenantId
      apiKeyId = caller.key.id
      // The caller's trace (`traceparent`, with the app's propagator registered): the run's span joins it.
      const traced = propagation.extract(context.active(), request.headers, headerGetter)
      return await context.with(traced, () => found.route.run({ request, url, params: found.params, requestId, caller, services }))
    } catch (err) {
      // The client went away (its request's signal aborted): nobody reads the answer, nothing to report.
      const gone = clientGone(request)
      const r = gone ? errorReply(new HttpError(499, 'client_closed_request', 'The client closed the request')) : errorReply(err)
      if (r.unexpected) report(err, { requestId, method: request.method, path })
      return errorJson(r, requestId, await rateHeaders(r, err, tenantId, apiKeyId))
    }
  }

  const handle = async (request: Request): Promise<Response> => toResponse(await answer(request))
  setDirectAnswer(handle, answer)
  return Object.assign(handle, { basePath, handles, openapi }) as LlmHttpHandler
}
