/**
 * `prisma-llm-tenant/dashboard`: operators' and tenants' usage pages as one Fetch handler, and the
 * same adapters as the HTTP API to mount it on node:http, Express, Connect and Next.js.
 */
import { toNextRouteHandlers as nextHandlers, toNodeListener as nodeListener, type NextRouteHandler, type NodeListener } from '../http/adapters.js'
import type { LlmHttpHandler } from '../http/handler.js'
import type { LlmDashboardHandler } from './handler.js'

export { createLlmDashboard, type LlmDashboardHandler, type LlmDashboardOptions } from './handler.js'
export type { DashboardAuth, DashboardSession } from './context.js'
export { escapeHtml, html, SafeHtml } from './html.js'
export { forgetAllUsageDays } from '../ledger/usage-days.js'
export type { NextRouteHandler, NodeListener } from '../http/adapters.js'

// The adapters read only the handler's call signature, `basePath` and `handles()`, which the
// dashboard handler has; the HTTP API's type also names its OpenAPI document, which it does not.
const asHttp = (handler: LlmDashboardHandler) => handler as unknown as LlmHttpHandler

/** The dashboard as a node:http / Express / Connect listener (`app.use(toNodeListener(dashboard))`). */
export function toNodeListener(handler: LlmDashboardHandler): NodeListener {
  return nodeListener(asHttp(handler))
}

/** The dashboard as Next.js App Router route handlers (`export const { GET, POST } = toNextRouteHandlers(dashboard)`). */
export function toNextRouteHandlers(handler: LlmDashboardHandler): { GET: NextRouteHandler; POST: NextRouteHandler } {
  const { GET, POST } = nextHandlers(asHttp(handler))
  return { GET, POST }
}
