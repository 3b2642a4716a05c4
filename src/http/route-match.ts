/**
 * Path routing shared by the HTTP API and the dashboard: routes are `METHOD /a/:param/b` patterns
 * matched segment by segment (a `:param` matches one non-empty segment), so a path has at most one
 * route per method and a path known under other methods answers 405 with `Allow`, not 404.
 */

export interface PathRoute {
  method: string
  /** e.g. '/v1/executions/:id' */
  path: string
}

export type CompiledRoute<R extends PathRoute> = R & { segments: string[] }

export function compileRoutes<R extends PathRoute>(routes: readonly R[]): CompiledRoute<R>[] {
  return routes.map((r) => ({ ...r, segments: r.path.split('/').slice(1) }))
}

/** The route for a path with its `:params` (still URL-encoded); or the methods the path has (405); or null (404). */
export function matchRoute<R extends PathRoute>(
  compiled: readonly CompiledRoute<R>[],
  method: string,
  path: string,
): { route: CompiledRoute<R>; params: string[] } | { allow: string[] } | null {
  const parts = path.split('/').slice(1)
  const allow: string[] = []
  for (const route of compiled) {
    if (route.segments.length !== parts.length) continue
    const params: string[] = []
    const same = route.segments.every((s, i) => (s.startsWith(':') ? parts[i] !== '' && params.push(parts[i]) > 0 : s === parts[i]))
    if (!same) continue
    if (route.method === method) return { route, params }
    allow.push(route.method)
  }
  return allow.length > 0 ? { allow } : null
}
