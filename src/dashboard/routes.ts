/**
 * The route table. Each route says whether it is for operators only; a tenant session's own pages
 * are the tenant's page, its audit trail and its executions — any other tenant's id, execution id
 * or key id is a 404, exactly like an id that does not exist. Query parameters are checked first
 * (input.ts): an unknown one is a 400, never a silently unfiltered page.
 */
import { actorOf } from '../audit/actor.js'
import { EXECUTION_STATUSES } from '../ledger/types.js'
import { runAdminAction, type AdminAction } from './admin.js'
import type { DashboardServices, DashboardSettings } from './context.js'
import { executionDetail, executionsPage as readExecutions } from './executions-data.js'
import { EXECUTION_PERIODS, executionPage, executionsPage } from './executions-page.js'
import type { SafeHtml, PageContext } from './html.js'
import { assertParams, cursorParam, DASHBOARD_PERIODS, identifier, notFound, oneOf } from './input.js'
import { overviewData, overviewPage } from './overview.js'
import type { DashboardSession } from './context.js'
import { periodOf, tenantDetail } from './tenant-data.js'
import { auditPage, NOTICE_KEYS, tenantPage } from './tenant-page.js'
import { TENANT_CURSOR_KEY, TENANT_SORTS, TENANT_STATES, tenantRows, tenantsPage } from './tenants.js'

interface DashboardRouteContext {
  request: Request
  url: URL
  params: string[]
  session: DashboardSession
  services: DashboardServices
  settings: DashboardSettings
  /** The POST's form (CSRF already verified); null for GET. */
  form: URLSearchParams | null
  page: PageContext
  requestId: string
}

export interface DashboardRoute {
  method: 'GET' | 'POST'
  /** Below the base path, e.g. '/tenants/:id'. */
  path: string
  operatorOnly: boolean
  /** Served from assets.ts (the name is the one param). */
  asset?: boolean
  run(ctx: DashboardRouteContext): Promise<SafeHtml | Response>
}

/** The tenant a session may see under this id, or a 404. */
function ownTenant(session: DashboardSession, tenantId: string): string {
  if (session.role === 'tenant' && session.tenantId !== tenantId) throw notFound()
  return tenantId
}

const redirect = (location: string) => new Response(null, { status: 303, headers: { location, 'cache-control': 'no-store' } })

function admin(path: string, action: AdminAction): DashboardRoute {
  return {
    method: 'POST',
    path,
    operatorOnly: true,
    async run({ params, services, session, form, settings, requestId }) {
      const [tenantId, keyId] = params
      // The operator is the actor of the change (and its audit event), with this request's id.
      const actor = { ...actorOf({ actor: session.actor }), requestId }
      const notice = await runAdminAction(services, action, { tenantId, keyId }, form ?? new URLSearchParams(), actor)
      return redirect(`${settings.basePath}/tenants/${encodeURIComponent(tenantId)}?done=${notice}`)
    },
  }
}

export const ROUTES: DashboardRoute[] = [
  {
    method: 'GET',
    path: '/',
    operatorOnly: false,
    async run({ url, session, services, page, settings }) {
      if (session.role === 'tenant') return redirect(`${settings.basePath}/tenants/${encodeURIComponent(session.tenantId)}`)
      assertParams(url, [])
      return overviewPage(page, await overviewData(services))
    },
  },
  {
    method: 'GET',
    path: '/tenants',
    operatorOnly: true,
    async run({ url, services, page, settings, request, requestId }) {
      assertParams(url, ['q', 'sort', 'state', 'cursor'])
      const sort = oneOf(url, 'sort', TENANT_SORTS, 'spend')
      const query = { q: identifier(url, 'q', 200), sort, state: oneOf(url, 'state', TENANT_STATES, 'all'), cursor: cursorParam(url, TENANT_CURSOR_KEY[sort]) }
      // A tenant whose status cannot be read is shown as unavailable, and the error reported.
      const report = (err: unknown) => settings.onError(err, { requestId, method: request.method, path: url.pathname })
      return tenantsPage(page, query, await tenantRows(services, query, report))
    },
  },
  {
    method: 'GET',
    path: '/tenants/:id',
    operatorOnly: false,
    async run({ url, params, session, services, page }) {
      const tenantId = ownTenant(session, params[0])
      assertParams(url, ['period', 'done'])
      const period = oneOf(url, 'period', DASHBOARD_PERIODS, 'this_month')
      const notice = oneOf(url, 'done', NOTICE_KEYS)
      const detail = await tenantDetail(services, tenantId, period, { operator: session.role === 'operator' })
      if (!detail) throw notFound()
      return tenantPage(page, detail, period, notice, services.config.now())
    },
  },
  {
    method: 'GET',
    path: '/tenants/:id/audit',
    operatorOnly: false,
    async run({ url, params, session, services, page }) {
      const tenantId = ownTenant(session, params[0])
      assertParams(url, ['cursor'])
      if (!(await services.tenants.find(tenantId))) throw notFound()
      const { events, nextCursor } = await services.audit.events({ tenantId, limit: 50, cursor: url.searchParams.get('cursor') || undefined })
      return auditPage(page, tenantId, events, nextCursor)
    },
  },
  {
    method: 'GET',
    path: '/executions',
    operatorOnly: false,
    async run({ url, session, services, page }) {
      assertParams(url, ['tenant', 'agent', 'model', 'status', 'period', 'key', 'cursor'])
      const asked = identifier(url, 'tenant', 1024)
      // A tenant session lists its own executions only; naming another tenant is a 404.
      const tenantId = session.role === 'tenant' ? ownTenant(session, asked ?? session.tenantId) : asked
      const period = oneOf(url, 'period', EXECUTION_PERIODS, 'last_30_days')
      const form = {
        tenant: session.role === 'operator' ? tenantId : undefined,
        agent: identifier(url, 'agent'),
        model: identifier(url, 'model'),
        status: oneOf(url, 'status', EXECUTION_STATUSES),
        period,
        key: identifier(url, 'key', 191),
        cursor: url.searchParams.get('cursor') || undefined,
      }
      if (session.role === 'tenant' && form.key !== undefined) {
        const key = await services.keys.getApiKey(form.key).catch(() => null)
        if (!key || key.tenantId !== session.tenantId) throw notFound()
      }
      const range = period === 'all' ? undefined : periodOf(services, period)
      const result = await readExecutions(services, {
        tenantId,
        agentType: form.agent,
        model: form.model,
        status: form.status,
        apiKeyId: form.key,
        range: range && { from: range.from, to: range.to },
        cursor: cursorParam(url, /^\d{1,15}$/),
      })
      return executionsPage(page, form, result)
    },
  },
  {
    method: 'GET',
    path: '/executions/:id',
    operatorOnly: false,
    async run({ url, params, session, services, page }) {
      assertParams(url, [])
      const detail = await executionDetail(services, params[0], session.role === 'tenant' ? session.tenantId : null)
      if (!detail) throw notFound()
      return executionPage(page, detail)
    },
  },
  admin('/tenants/:id/limits', 'limits'),
  admin('/tenants/:id/plan', 'plan'),
  admin('/tenants/:id/active', 'active'),
  admin('/tenants/:id/keys/:keyId/revoke', 'revoke'),
  { method: 'GET', path: '/assets/:name', operatorOnly: false, asset: true, run: async () => new Response(null, { status: 404 }) },
]
