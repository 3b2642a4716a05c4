/**
 * Mounting the Fetch handler in the frameworks apps already use. The handler itself is the
 * framework-neutral part; these are thin:
 *
 * - `toNodeListener(handler)` — `(req, res, next?)` for `node:http`'s `createServer`, Express
 *   (`app.use(toNodeListener(handler))`) and Connect. The Node ↔ Fetch bridge is
 *   `@hono/node-server`'s `getRequestListener` (an optional peer dependency, loaded on the first
 *   request: apps that mount the handler elsewhere never need it). It streams responses, and
 *   aborts the request's signal and cancels a streamed response when the client disconnects; the
 *   API's JSON answers skip its `Response` path and are written here in one `end()` (see
 *   fetchCallback and reply.ts). The global `Request` / `Response` are left as they are.
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
import { directAnswerOf, JsonReply } from './reply.js'

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

type FetchCallback = (request: Request, env: { outgoing: ServerResponse }) => Promise<Response>

interface Bridge {
  getRequestListener(fetch: FetchCallback, options: { overrideGlobalObjects: boolean }): RequestListener
  /** `@hono/node-server/utils/response`: the answer that tells the bridge the response was written already. */
  RESPONSE_ALREADY_SENT: Response
}
let bridge: Promise<Bridge> | undefined

function loadBridge(): Promise<Bridge> {
  bridge ??= Promise.all([import('@hono/node-server'), import('@hono/node-server/utils/response')]).then(
    ([m, r]) => ({ getRequestListener: (m as unknown as Bridge).getRequestListener, RESPONSE_ALREADY_SENT: r.RESPONSE_ALREADY_SENT }),
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

/**
 * The bridge's fetch callback for `handler`. The HTTP API's JSON answers (reply.ts) are written to
 * the socket here, in one `end()` with their length, and the bridge is told they are sent;
 * everything else (SSE streams, `/metrics`, other handlers such as the dashboard's) is a
 * `Response` the bridge writes.
 */
function fetchCallback(handler: LlmHttpHandler, alreadySent: Response): FetchCallback {
  const direct = directAnswerOf(handler)
  if (!direct || isBridgeResponse(alreadySent)) return (request) => handler(request)
  return async (request, { outgoing }) => {
    const answer = await direct(request)
    if (!(answer instanceof JsonReply)) return answer
    if (!outgoing.headersSent && !outgoing.destroyed) {
      // Lowercase names, as a Fetch Response would send them.
      const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(answer.body)) }
      for (const [name, value] of Object.entries(answer.headers)) headers[name.toLowerCase()] = value
      outgoing.writeHead(answer.status, headers)
      outgoing.end(answer.body)
    }
    return alreadySent
  }
}

/**
 * True when `response` is one of the bridge's own lightweight Responses rather than the platform's.
 * That is RESPONSE_ALREADY_SENT when the app had the bridge replace the global Response (its default
 * in `serve()`) before it loaded, and the bridge would then write it again: answer with Responses in
 * that mode (fast there anyway). The bridge's class extends the platform's Response; the platform's
 * is a base class. (Not "has symbol-keyed properties": Node 20's own Response has them — that test
 * turned the direct path off on every Node 20.)
 */
function isBridgeResponse(response: Response): boolean {
  return Object.getPrototypeOf(Object.getPrototypeOf(response)) !== Object.prototype
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
      if (!listener) {
        const b = await loadBridge()
        listener = b.getRequestListener(fetchCallback(handler, b.RESPONSE_ALREADY_SENT), { overrideGlobalObjects: false })
      }
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
