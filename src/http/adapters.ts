/**
 * Mounting the Fetch handler in the frameworks apps already use. The handler itself is the
 * framework-neutral part; these are thin:
 *
 * - `toNodeListener(handler)` — `(req, res, next?)` for `node:http`'s `createServer`, Express
 *   (`app.use(toNodeListener(handler))`) and Connect. The Node ↔ Fetch bridge is
 *   `@hono/node-server`'s `getRequestListener` (an optional peer dependency, loaded on the first
 *   request: apps that mount the handler elsewhere never need it). It streams responses, and
 *   aborts the request's signal and cancels a streamed response when the client disconnects.
 *   Under Express/Connect, requests outside the base path go to `next()`; a mount path
 *   (`app.use('/llm', …)`) is taken from `req.originalUrl`; a body an earlier body parser already
 *   read is handed on as it was parsed.
 * - `toNextRouteHandlers(handler)` — `{ GET, POST, DELETE }` for a Next.js App Router catch-all
 *   route (`app/api/llm/[...path]/route.ts`, with `basePath: '/api/llm'`).
 * - Hono, Bun, Deno, Cloudflare: the handler is already what they take —
 *   `app.all('/api/llm/*', (c) => handler(c.req.raw))`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LlmTenantError } from '../foundation/errors.js'
import type { LlmHttpHandler } from './handler.js'

/** `@hono/node-server` (the Node ↔ Fetch bridge of toNodeListener) is not installed in the app. */
export class MissingHttpBridgeError extends LlmTenantError {
  readonly packageName = '@hono/node-server'
  readonly installCommand = 'npm install @hono/node-server hono'
  constructor() {
    super('MISSING_HTTP_BRIDGE', 'toNodeListener needs the package @hono/node-server (run `npm install @hono/node-server hono`)')
  }
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>
export type NodeListener = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => Promise<void>

interface Bridge {
  getRequestListener(fetch: (request: Request) => Promise<Response>, options: { overrideGlobalObjects: boolean }): RequestListener
}
let bridge: Promise<Bridge> | undefined

function loadBridge(): Promise<Bridge> {
  bridge ??= import('@hono/node-server').then(
    (m) => m as unknown as Bridge,
    (err: unknown) => {
      bridge = undefined
      const e = err as { code?: unknown; message?: unknown }
      if ((e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes('@hono/node-server'))
        throw new MissingHttpBridgeError()
      throw err
    },
  )
  return bridge
}

/** A body parsed by earlier middleware (express.json(), …), as the bytes the bridge hands on. */
function parsedBody(req: IncomingMessage & { body?: unknown; rawBody?: unknown }): void {
  if (req.rawBody !== undefined || req.body === undefined || !req.readableEnded) return
  const b = req.body
  req.rawBody = Buffer.isBuffer(b) ? b : Buffer.from(typeof b === 'string' ? b : JSON.stringify(b))
}

/** The handler as a node:http / Express / Connect listener. */
export function toNodeListener(handler: LlmHttpHandler): NodeListener {
  let listener: RequestListener | undefined
  return async (req, res, next) => {
    const original = (req as { originalUrl?: unknown }).originalUrl
    const url = typeof original === 'string' ? original : (req.url ?? '/')
    if (next && !handler.handles(pathnameOf(url))) return next()
    try {
      req.url = url // Express and Connect strip their mount path from req.url; the handler routes by the full path
      parsedBody(req)
      listener ??= (await loadBridge()).getRequestListener((request: Request) => handler(request), { overrideGlobalObjects: false })
      await listener(req, res)
    } catch (err) {
      if (next) return next(err)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ error: { type: 'internal_error', message: err instanceof MissingHttpBridgeError ? err.message : 'Internal error' } }))
    }
  }
}

function pathnameOf(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** A Next.js App Router route handler: `(request, context) => Response` (the context is not needed). */
export type NextRouteHandler = (request: Request, context?: unknown) => Promise<Response>

/**
 * The handler as Next.js route handlers. In `app/api/llm/[...path]/route.ts`:
 * `export const { GET, POST, DELETE } = toNextRouteHandlers(handler)` and
 * `export const runtime = 'nodejs'` (Prisma and the providers' SDKs run on Node).
 */
export function toNextRouteHandlers(handler: LlmHttpHandler): { GET: NextRouteHandler; POST: NextRouteHandler; DELETE: NextRouteHandler } {
  const route: NextRouteHandler = (request) => handler(request)
  return { GET: route, POST: route, DELETE: route }
}
