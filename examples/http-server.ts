/**
 * An HTTP API whose every request runs as one tenant — plain `node:http`, no framework, nothing to
 * install beyond the library. Copy it and swap in your own routing and authentication.
 *
 *   POST /answers  {"question": "…"}  → 200 {"answer", "model", "cost", "executionId"}
 *   GET  /usage                       → 200 {"tenant", "period", "cost", "tokens", "executions"}
 *
 * The tenant comes from the `x-tenant` header (in your app: from the session or API key you have
 * authenticated). Each request looks up its organization and runs inside
 * `prisma.$llm.withTenant(org, …)`, so every LLM call made while handling it is admitted against,
 * and recorded for, that tenant without passing it around. Errors become HTTP statuses:
 *
 *   BudgetExceededError → 429, `Retry-After` (whole seconds until the refusing day or month resets;
 *                         1 for a full maxConcurrent) and a JSON body with the limit's figures
 *   TenantInactiveError → 403        unknown tenant → 404        no / bad input → 400
 *   ProviderError       → 502        anything else  → 500 (details logged, not sent)
 *
 * `npm run example:http` serves it offline: SQLite in a temporary folder and the bundled provider
 * emulator instead of api.openai.com (tenants "acme", limited to 2 calls a day, and "globex").
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import {
  applyLlmTenantSchema,
  BudgetExceededError,
  InvalidArgumentError,
  llmTenant,
  ProviderError,
  TenantInactiveError,
  type LlmConfigInput,
  type RuntimeOptions,
} from 'prisma-llm-tenant'
import { ProviderEmulator } from 'prisma-llm-tenant/testing'
import { PrismaClient } from '../generated/sqlite/client.ts' // your generated client

export interface SupportApiOptions {
  /** Provider endpoints (here: the emulator); omit to call the real APIs. */
  providers?: RuntimeOptions['providers']
  config?: LlmConfigInput
}

/** A JSON response. */
interface Reply {
  status: number
  body: Record<string, unknown>
  headers?: Record<string, string>
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Maps an error to its HTTP response: the one place an app decides what a refusal means to its clients. */
export function errorReply(err: unknown): Reply {
  if (err instanceof BudgetExceededError) {
    return {
      status: 429,
      // Whole seconds until the refusing day/month resets in the configured zone; a full
      // maxConcurrent has no reset time (calls in flight end on their own), so: try again in 1 s.
      headers: { 'retry-after': String(err.retryAfterSeconds ?? 1) },
      body: {
        error: 'budget_exceeded',
        message: err.message,
        scope: err.scope,
        limitType: err.limitType,
        // Decimal dollars for dailyCost/monthlyCost (sent as an exact string), numbers for the rest.
        limit: typeof err.limit === 'number' ? err.limit : err.limit.toFixed(),
        current: typeof err.current === 'number' ? err.current : err.current.toFixed(),
        retryAfter: err.retryAfter?.toISOString() ?? null,
      },
    }
  }
  if (err instanceof TenantInactiveError) return { status: 403, body: { error: 'tenant_inactive', message: err.message } }
  if (err instanceof HttpError) return { status: err.status, body: { error: err.code, message: err.message } }
  if (err instanceof InvalidArgumentError) return { status: 400, body: { error: 'invalid_argument', message: err.message } }
  if (err instanceof ProviderError) return { status: 502, body: { error: 'provider_error', provider: err.provider, status: err.status } }
  console.error(err)
  return { status: 500, body: { error: 'internal' } }
}

function send(res: ServerResponse, reply: Reply): void {
  const payload = JSON.stringify(reply.body)
  res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...reply.headers })
  res.end(payload)
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > 64 * 1024) throw new HttpError(413, 'too_large', 'The request body is larger than 64 KiB')
    chunks.push(chunk as Buffer)
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body
  } catch {
    // answered below
  }
  throw new HttpError(400, 'bad_request', 'The body must be a JSON object')
}

/** The API on top of your Prisma client: `server` is not listening yet. */
export function createSupportApi(db: PrismaClient, options: SupportApiOptions = {}): { server: Server; prisma: ReturnType<typeof extend> } {
  const prisma = extend(db, options)
  const support = prisma.$llm.defineAgent({ name: 'SupportAgent', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Answer support questions briefly.' })

  async function handle(req: IncomingMessage): Promise<Reply> {
    const slug = req.headers['x-tenant']
    if (typeof slug !== 'string' || slug === '') throw new HttpError(400, 'missing_tenant', 'Send the tenant in the x-tenant header')
    const org = await prisma.organization.findUnique({ where: { slug } })
    if (!org) throw new HttpError(404, 'unknown_tenant', `No tenant "${slug}"`)

    // Everything inside runs as this tenant: agent runs, llmTrack calls, ledger rows.
    return prisma.$llm.withTenant(org, async (): Promise<Reply> => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname
      if (req.method === 'POST' && path === '/answers') {
        const { question } = await readJson(req)
        if (typeof question !== 'string' || question.trim() === '') throw new HttpError(400, 'bad_request', 'question must be a non-empty string')
        const result = await support.run(question) // the tenant is the ambient one
        return { status: 200, body: { answer: result.text, model: result.model, cost: result.cost.toFixed(), executionId: result.executionId } }
      }
      if (req.method === 'GET' && path === '/usage') {
        const usage = await org.llmUsageSummary({ period: 'today' })
        return {
          status: 200,
          body: { tenant: org.slug, period: usage.period.name, cost: usage.cost.toFixed(), tokens: usage.tokens, executions: usage.executions },
        }
      }
      throw new HttpError(404, 'not_found', `No route ${req.method} ${path}`)
    })
  }

  const server = createServer((req, res) => {
    handle(req)
      .catch((err: unknown) => errorReply(err))
      .then((reply) => send(res, reply))
      .catch((err: unknown) => {
        console.error(err)
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
  })
  return { server, prisma }
}

function extend(db: PrismaClient, options: SupportApiOptions) {
  return db.$extends(
    llmTenant({
      model: 'organization',
      id: 'slug',
      name: 'displayName',
      budget: true, // every organization gets its LlmTenant row
      apiKeys: { openai: 'openaiApiKey' }, // its own provider key
      providers: options.providers,
      config: options.config,
    }),
  )
}

/** `npm run example:http`: the API offline, on port $PORT (default 3000). */
async function main(): Promise<void> {
  const emulator = await new ProviderEmulator().start()
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-http-'))
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${join(dir, 'app.db')}` }) })
  await applyLlmTenantSchema(db)
  // Your migrations create this table; the example creates it itself.
  await db.$executeRawUnsafe(`CREATE TABLE "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE,
    "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`)
  const { server, prisma } = createSupportApi(db, { providers: { openai: { baseURL: emulator.openaiBaseURL } }, config: { timeZone: 'Europe/Berlin' } })
  const acme = await prisma.organization.create({ data: { slug: 'acme', displayName: 'Acme', openaiApiKey: 'sk-acme-demo-key' } })
  await acme.llmConfigure({ limits: { dailyExecutions: 2 }, enforcement: 'hard' })
  await prisma.organization.create({ data: { slug: 'globex', displayName: 'Globex', openaiApiKey: 'sk-globex-demo-key' } })

  const port = Number(process.env.PORT ?? 3000)
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${port} (offline: provider emulator, SQLite in ${dir})`)
    console.log(`  curl -s -H 'x-tenant: acme' -d '{"question":"Where is my order?"}' http://127.0.0.1:${port}/answers`)
    console.log(`  curl -s -H 'x-tenant: acme' http://127.0.0.1:${port}/usage`)
    console.log('  (the third answer for acme today is a 429 with Retry-After)')
  })
  const stop = () => {
    server.close()
    void db
      .$disconnect()
      .then(() => emulator.close())
      .finally(() => rmSync(dir, { recursive: true, force: true }))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
