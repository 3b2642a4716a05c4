/**
 * The tenant HTTP API for a Next.js app (App Router): one Prisma client, runtime, key store and
 * handler per server process, created on first import. The route handler that serves it is
 * app/api/llm/[...path]/route.ts. Environment: DATABASE_URL (a SQLite file here), API_KEY_PEPPER,
 * OPENAI_API_KEY (or OPENAI_BASE_URL for a local endpoint such as the bundled emulator).
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { createApiKeys, createLlmRuntime } from 'prisma-llm-tenant'
import { createLlmHttpHandler } from 'prisma-llm-tenant/http'
import { PrismaClient } from '../../../generated/sqlite/client.ts' // your generated client

// Next.js re-evaluates modules on hot reload in development: keep one client per process.
const cache = globalThis as unknown as { llmPrisma?: PrismaClient }
export const prisma = (cache.llmPrisma ??= new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: process.env.DATABASE_URL ?? 'file:./dev.db' }) }))

export const llmRuntime = createLlmRuntime(prisma, {
  providers: process.env.OPENAI_BASE_URL ? { openai: { baseURL: process.env.OPENAI_BASE_URL } } : undefined,
})
llmRuntime.defineAgent({ name: 'support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Answer support questions briefly.' })

export const apiKeys = createApiKeys(prisma, { config: llmRuntime.config, prefix: 'sk_live', pepper: process.env.API_KEY_PEPPER ?? null })

/** Mounted at /api/llm: the catch-all route's folder. */
export const llmApi = createLlmHttpHandler(prisma, { apiKeys, runtime: llmRuntime, basePath: '/api/llm' })
