/**
 * The tenant HTTP API (`prisma-llm-tenant/http`) mounted in an Express app, next to the app's own
 * routes and body parser. Tenants call it with their API key:
 *
 *   GET  /api/llm/v1/usage?period=today            Authorization: Bearer sk_live_…
 *   POST /api/llm/v1/agents/support/run            {"input": "Where is my order?"}  (add "stream": true for SSE)
 *   POST /api/llm/v1/api-keys                      {"name": "ci"}
 *   GET  /api/llm/openapi.json                     the OpenAPI 3.1 document (no key)
 *
 * `toNodeListener` passes requests outside `/api/llm` on to the next Express handler, and takes the
 * body `express.json()` already parsed. Run it offline (SQLite in a temporary folder, the bundled
 * provider emulator instead of api.openai.com): `npx tsx examples/http-express.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import express, { type Express } from 'express'
import { applyLlmTenantSchema, createApiKeys, createLlmRuntime, TenantStore, type RuntimeOptions } from 'prisma-llm-tenant'
import { createLlmHttpHandler, toNodeListener } from 'prisma-llm-tenant/http'
import { ProviderEmulator } from 'prisma-llm-tenant/testing'
import { PrismaClient } from '../generated/sqlite/client.ts' // your generated client

export interface ExpressApiOptions {
  /** Provider endpoints (here: the emulator); omit to call the real APIs with OPENAI_API_KEY. */
  providers?: RuntimeOptions['providers']
  /** The server-side secret mixed into key hashes (keep it in your secrets store). */
  pepper: string
}

/** The app: its own routes, and the tenant API under /api/llm. */
export function createExpressApp(prisma: unknown, options: ExpressApiOptions) {
  const runtime = createLlmRuntime(prisma, { providers: options.providers })
  runtime.defineAgent({ name: 'support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Answer support questions briefly.' })
  const apiKeys = createApiKeys(prisma, { config: runtime.config, prefix: 'sk_live', pepper: options.pepper })
  const llmApi = createLlmHttpHandler(prisma, { apiKeys, runtime, basePath: '/api/llm' })

  const app: Express = express()
  app.use(express.json({ limit: '1mb' })) // the app's own parser: the handler takes what it parsed
  app.get('/health', (_req, res) => {
    res.json({ ok: true })
  })
  app.use(toNodeListener(llmApi))
  return { app, apiKeys, runtime }
}

/** Offline: the app on port $PORT (default 3000), one tenant and its key. */
async function main(): Promise<void> {
  const emulator = await new ProviderEmulator().start()
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-express-'))
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${join(dir, 'app.db')}` }) })
  await applyLlmTenantSchema(prisma)
  const { app, apiKeys } = createExpressApp(prisma, {
    providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-emulated' } },
    pepper: 'an-example-pepper-not-for-production',
  })
  await new TenantStore(prisma).upsert({ tenantId: 'acme', name: 'Acme', enforcement: 'hard', rateLimits: { requestsPerMinute: 5 } })
  const { secret } = await apiKeys.createApiKey('acme', { name: 'demo' })
  const port = Number(process.env.PORT ?? 3000)
  const server: Server = app.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${port} (offline: provider emulator, SQLite in ${dir})`)
    console.log(`  curl -s -H 'Authorization: Bearer ${secret}' http://127.0.0.1:${port}/api/llm/v1/usage`)
    console.log(
      `  curl -s -H 'Authorization: Bearer ${secret}' -H 'content-type: application/json' -d '{"input":"hi"}' http://127.0.0.1:${port}/api/llm/v1/agents/support/run`,
    )
    console.log('  (the sixth run within a minute is a 429 with Retry-After and RateLimit headers)')
  })
  const stop = () => {
    server.close()
    void prisma
      .$disconnect()
      .then(() => emulator.close())
      .finally(() => rmSync(dir, { recursive: true, force: true }))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
