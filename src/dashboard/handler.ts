/**
 * `createLlmDashboard(prisma, options)`: the dashboard as one Fetch handler, `(Request) =>
 * Promise<Response>`, mounted like the HTTP API (index.ts re-exports the node:http / Express /
 * Next.js adapters for it). Per request: a request id → the route (404 / 405) → the session from
 * the app's `auth` (401 or the login redirect; a tenant session on an operator page → 403; on
 * another tenant's id → 404) → for a POST, origin and CSRF (403, nothing read further) → the page.
 * Every answer carries the security headers: a CSP without 'unsafe-inline', frame-ancestors
 * 'none' and X-Frame-Options DENY, Referrer-Policy same-origin, nosniff, no-store on pages.
 */
import { randomUUID } from 'node:crypto'
import { LlmTenantError } from '../foundation/errors.js'
import { assetResponse, assetVersion } from './assets.js'
import {
  createDashboardServices,
  csrfToken,
  refuseCrossSite,
  refuseToken,
  toSession,
  type DashboardServices,
  type DashboardSession,
  type DashboardSettings,
  type LlmDashboardOptions,
} from './context.js'
import { escapeHtml, html, type SafeHtml, errorPage, type PageContext } from './html.js'
import { formFields, fromInvalidArgument, PageError } from './input.js'
import { compileRoutes, matchRoute } from '../http/route-match.js'
import { ROUTES, type DashboardRoute } from './routes.js'

export type { LlmDashboardOptions } from './context.js'

export interface LlmDashboardHandler {
  (request: Request): Promise<Response>
  /** Where the dashboard is mounted ('' or e.g. '/admin/llm'). */
  readonly basePath: string
  /** True when `pathname` is under the base path (adapters pass other requests on). */
  handles(pathname: string): boolean
  /** The route table (method, path, who may use it), e.g. for tests that walk every route. */
  readonly routes: ReadonlyArray<Pick<DashboardRoute, 'method' | 'path' | 'operatorOnly'>>
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

function securityHeaders(requestId: string): Record<string, string> {
  return {
    'content-security-policy': CSP,
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'x-request-id': requestId,
  }
}

const compiled = compileRoutes(ROUTES)

function decodeParams(params: string[]): string[] {
  return params.map((p) => {
    try {
      return decodeURIComponent(p)
    } catch {
      throw new PageError(404, 'Not found', 'There is no such page, or it is not yours to see.')
    }
  })
}

export function createLlmDashboard(prisma: unknown, options: LlmDashboardOptions): LlmDashboardHandler {
  const { services, settings } = createDashboardServices(prisma, options)
  const basePath = settings.basePath
  const version = assetVersion()
  const handles = (pathname: string) => basePath === '' || pathname === basePath || pathname.startsWith(`${basePath}/`)

  async function handle(request: Request): Promise<Response> {
    const requestId = `req_${randomUUID().replaceAll('-', '')}`
    const headers = securityHeaders(requestId)
    let session: DashboardSession | null = null
    let path = '/'
    try {
      const url = new URL(request.url)
      path = url.pathname
      if (!handles(path)) throw new PageError(404, 'Not found', 'There is no such page.')
      const below = path.slice(basePath.length) || '/'
      const found = matchRoute(compiled, request.method === 'HEAD' ? 'GET' : request.method, below)
      if (!found) throw new PageError(404, 'Not found', 'There is no such page.')
      if ('allow' in found)
        throw new PageError(405, 'Method not allowed', `Use ${found.allow.join(' or ')}.`, undefined, undefined, { allow: found.allow.join(', ') })
      session = toSession(await settings.auth(request))
      if (session === null) return unauthenticated(settings, url, headers)
      if (found.route.operatorOnly && session.role !== 'operator') throw new PageError(403, 'Operators only', 'This page is for the platform’s operators.')
      const csrf = csrfToken(settings.secret, session)
      const params = decodeParams(found.params)
      if (found.route.method === 'POST') {
        const form = await readForm(request, url, csrf, settings.allowedOrigins)
        const done = await found.route.run({
          request,
          url,
          params,
          session,
          services,
          settings,
          form,
          page: pageContext(settings, session, csrf, services, version),
          requestId,
        })
        return done instanceof Response ? withHeaders(done, headers) : htmlResponse(200, done, headers)
      }
      if (found.route.asset) {
        return (
          assetResponse(params[0], request, headers) ??
          errorResponse(new PageError(404, 'Not found', 'No such asset.'), headers, settings, services, version, session)
        )
      }
      const ctx = pageContext(settings, session, csrf, services, version)
      const result = await found.route.run({ request, url, params, session, services, settings, form: null, page: ctx, requestId })
      return result instanceof Response ? withHeaders(result, headers) : htmlResponse(200, result, headers)
    } catch (err) {
      const e = toPageError(err)
      if (e === null) {
        settings.onError(err, { requestId, method: request.method, path })
        return errorResponse(
          new PageError(500, 'Something went wrong', `The page could not be shown (request ${requestId}).`),
          headers,
          settings,
          services,
          version,
          session,
        )
      }
      return errorResponse(e, headers, settings, services, version, session)
    }
  }

  const routes = ROUTES.map(({ method, path, operatorOnly }) => ({ method, path, operatorOnly }))
  return Object.assign(handle, { basePath, handles, routes }) as LlmDashboardHandler
}

/** The form of a POST, once its origin and CSRF token passed (403 otherwise, before anything else). */
async function readForm(request: Request, url: URL, csrf: string, allowedOrigins: readonly string[]): Promise<URLSearchParams> {
  const crossSite = refuseCrossSite(request, url, allowedOrigins) // a cross-site body is not even read
  if (crossSite !== null) throw new PageError(403, 'Refused', crossSite)
  const form = await formFields(request)
  const refused = refuseToken(csrf, form.get('_csrf'))
  if (refused !== null) throw new PageError(403, 'Refused', refused)
  return form
}

function pageContext(settings: DashboardSettings, session: DashboardSession, csrf: string, services: DashboardServices, version: string): PageContext {
  return { base: settings.basePath, session, csrf, timeZone: services.config.timeZone, title: settings.title, assetVersion: version }
}

function unauthenticated(settings: DashboardSettings, url: URL, headers: Record<string, string>): Response {
  if (settings.loginUrl !== null) {
    const target = `${settings.loginUrl}${settings.loginUrl.includes('?') ? '&' : '?'}next=${encodeURIComponent(url.pathname + url.search)}`
    return new Response(null, { status: 303, headers: { ...headers, location: target, 'cache-control': 'no-store' } })
  }
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>401 · Sign in</title></head><body><h1>401 · Sign in required</h1><p>${escapeHtml(settings.title)} needs a signed-in session.</p></body></html>`
  return new Response(body, { status: 401, headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } })
}

function toPageError(err: unknown): PageError | null {
  if (err instanceof PageError) return err
  if (err instanceof LlmTenantError) {
    if (err.code === 'INVALID_ARGUMENT') return fromInvalidArgument(err as never)
    if (/NOT_FOUND$/.test(err.code)) return new PageError(404, 'Not found', 'There is no such page, or it is not yours to see.')
    if (err.code === 'API_KEY_REVOKED') return new PageError(409, 'Already revoked', err.message)
  }
  return null
}

function errorResponse(
  e: PageError,
  headers: Record<string, string>,
  settings: DashboardSettings,
  services: DashboardServices,
  version: string,
  session: DashboardSession | null,
): Response {
  const detail: SafeHtml = html`<p>${e.message}</p>${e.field ? html`<dl class="facts"><dt>Field</dt><dd><code>${e.field}</code></dd><dt>Allowed</dt><dd>${e.allowed ?? ''}</dd></dl>` : ''}`
  const body = errorPage(
    { base: settings.basePath, timeZone: services.config.timeZone, title: settings.title, assetVersion: version, session: session ?? undefined },
    e.status,
    e.title,
    detail,
  )
  return htmlResponse(e.status, body, { ...headers, ...e.headers })
}

function htmlResponse(status: number, body: SafeHtml, headers: Record<string, string>): Response {
  return new Response(body.value, { status, headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } })
}

function withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [k, v] of Object.entries(headers)) if (!response.headers.has(k)) response.headers.set(k, v)
  return response
}
