/**
 * The HTTP API under test, over real HTTP: a node:http server on 127.0.0.1 (an ephemeral port, one
 * per test file) running `toNodeListener(createLlmHttpHandler(…))`, the agent runtime pointed at
 * the provider emulator, and two tenants with a key each. Nothing of the library is mocked.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApiKeys, createLlmRuntime, TenantStore, type LlmApiKeys, type LlmConfigInput, type LlmRuntime } from '../../src/index.ts'
import { createLlmHttpHandler, toNodeListener, type LlmHttpHandler, type LlmHttpOptions } from '../../src/http/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import type { TestDatabase } from '../support/databases.ts'

export const PEPPER = 'a-pepper-for-the-http-tests-0123'

export interface Api {
  /** e.g. http://127.0.0.1:PORT/api/llm */
  base: string
  server: Server
  handler: LlmHttpHandler
  runtime: LlmRuntime
  keys: LlmApiKeys
  emulator: ProviderEmulator
  /** Raw keys of tenants "acme" and "globex". */
  acme: { secret: string; keyId: string }
  globex: { secret: string; keyId: string }
  close(): Promise<void>
}

export interface ApiOptions {
  basePath?: string
  config?: LlmConfigInput
  handler?: Partial<LlmHttpOptions>
}

export async function startApi(db: TestDatabase, options: ApiOptions = {}): Promise<Api> {
  const emulator = await new ProviderEmulator().start()
  const config = { refusalBackoffMs: 0, ...options.config }
  const runtime = createLlmRuntime(db.client, {
    config,
    providers: {
      openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-http-tests-openai' },
      anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-http-tests-anthropic' },
    },
  })
  runtime.defineAgent({ name: 'support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Answer briefly.' })
  runtime.defineAgent({ name: 'writer', provider: 'anthropic', model: 'claude-haiku-4-5', retries: 0 })
  const keys = createApiKeys(db.client, { config: runtime.config, prefix: 'sk_test', pepper: PEPPER })
  const store = new TenantStore(db.client)
  await store.upsert({ tenantId: 'acme', name: 'Acme', enforcement: 'hard' })
  await store.upsert({ tenantId: 'globex', name: 'Globex', enforcement: 'hard' })
  const a = await keys.createApiKey('acme', { name: 'acme-main' })
  const g = await keys.createApiKey('globex', { name: 'globex-main' })
  const basePath = options.basePath ?? '/api/llm'
  const handler = createLlmHttpHandler(db.client, { apiKeys: keys, runtime, basePath, onError: () => undefined, ...options.handler })
  const server = createServer(toNodeListener(handler))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}${basePath}`,
    server,
    handler,
    runtime,
    keys,
    emulator,
    acme: { secret: a.secret, keyId: a.key.id },
    globex: { secret: g.secret, keyId: g.key.id },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await emulator.close()
    },
  }
}

/** fetch with a key as Bearer (or none). */
export function call(api: Api, path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const { key, ...rest } = init
  const headers = new Headers(rest.headers)
  if (key !== null && key !== undefined) headers.set('authorization', `Bearer ${key}`)
  if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json')
  return fetch(`${api.base}${path}`, { ...rest, headers })
}

/** Counts of every table a request could write: "wrote nothing" means these did not change. */
export async function writes(db: TestDatabase): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const table of ['llm_executions', 'llm_audit_events', 'llm_api_keys', 'llm_budget_holds', 'llm_budget_counters', 'llm_rate_limits', 'llm_tenants']) {
    const [row] = await db.rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`)
    out[table] = Number(row.n)
  }
  const revoked = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_api_keys WHERE revoked_at IS NOT NULL')
  out.revoked = Number(revoked[0].n)
  return out
}

/** Waits until `check` passes (settles run off the response's path). */
export async function eventually(check: () => Promise<void>, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > until) throw err
      await new Promise((r) => setTimeout(r, 25))
    }
  }
}
