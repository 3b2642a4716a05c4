/**
 * The adapters, each with the framework itself, on both databases: Express (the example app, its
 * own routes and body parser in front, a second handler mounted under a path, SSE through it),
 * Next.js route handlers (the example's route module, called with Next's own NextRequest, as Next
 * calls it — streaming and a client abort included), and Hono (the Fetch handler as it is, served
 * by @hono/node-server).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { NextRequest } from 'next/server.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createLedger, TenantStore } from '../../src/index.ts'
import { createLlmHttpHandler, toNextRouteHandlers, toNodeListener } from '../../src/http/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { createExpressApp } from '../../examples/http-express.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { eventually, startApi, type Api } from './server.ts'

// The examples import the package by name, as an app does: here that name is this repository's source.
vi.mock('prisma-llm-tenant', () => import('../../src/index.ts'))
vi.mock('prisma-llm-tenant/http', () => import('../../src/http/index.ts'))
vi.mock('prisma-llm-tenant/testing', () => import('../../src/testing/index.ts'))

const close = (server: Server) => {
  server.closeAllConnections()
  return new Promise<void>((resolve) => server.close(() => resolve()))
}
const auth = (secret: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${secret}`, ...extra })
const jsonHeaders = (secret: string) => auth(secret, { 'content-type': 'application/json' })

describe.each(DATABASES)('adapters on %s', (kind) => {
  const db = useDatabase(kind)
  const emulator = new ProviderEmulator()
  beforeAll(async () => void (await emulator.start()))
  afterAll(async () => emulator.close())

  describe('Express (examples/http-express.ts)', () => {
    let server: Server
    let base = ''
    let secret = ''
    beforeAll(async () => {
      const { app, apiKeys, runtime } = createExpressApp(db().client, {
        providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-express' } },
        pepper: 'a-pepper-for-the-express-test',
      })
      // A second API mounted under a path: Express strips it from req.url, the handler still routes by the full path.
      app.use('/mounted', toNodeListener(createLlmHttpHandler(db().client, { apiKeys, runtime, basePath: '/mounted/llm' })))
      app.use((_req, res) => {
        res.status(404).json({ express: 'not found' })
      })
      await new TenantStore(db().client).upsert({ tenantId: 'acme', enforcement: 'hard' })
      secret = (await apiKeys.createApiKey('acme', { name: 'express' })).secret
      server = app.listen(0, '127.0.0.1')
      await new Promise((r) => server.once('listening', r))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => close(server))

    it("serves the API beside the app's routes; a body parsed by express.json() is taken as parsed", async () => {
      expect(await (await fetch(`${base}/health`)).json()).toEqual({ ok: true })
      expect(await (await fetch(`${base}/elsewhere`)).json()).toEqual({ express: 'not found' }) // passed on with next()
      const usage = await fetch(`${base}/api/llm/v1/usage`, { headers: auth(secret) })
      expect([usage.status, ((await usage.json()) as any).tenantId]).toEqual([200, 'acme'])
      const run = await fetch(`${base}/api/llm/v1/agents/support/run`, {
        method: 'POST',
        headers: jsonHeaders(secret),
        body: JSON.stringify({ input: 'via express' }),
      })
      expect([run.status, ((await run.json()) as any).text]).toEqual([200, 'Echo: via express'])
      const created = await fetch(`${base}/api/llm/v1/api-keys`, {
        method: 'POST',
        headers: jsonHeaders(secret),
        body: JSON.stringify({ name: 'from-express' }),
      })
      expect(created.status).toBe(201)
      const bad = await fetch(`${base}/api/llm/v1/api-keys`, {
        method: 'POST',
        headers: jsonHeaders(secret),
        body: JSON.stringify({ name: 'x', tenantId: 'globex' }),
      })
      expect([bad.status, ((await bad.json()) as any).error.param]).toEqual([400, 'tenantId'])
      expect((await fetch(`${base}/api/llm/v1/usage`)).status).toBe(401)
      const mounted = await fetch(`${base}/mounted/llm/v1/usage?period=today`, { headers: auth(secret) })
      expect([mounted.status, ((await mounted.json()) as any).executions]).toEqual([200, 1])
      const doc = (await (await fetch(`${base}/mounted/llm/openapi.json`)).json()) as any
      expect(doc.servers).toEqual([{ url: '/mounted/llm' }])
    })

    it('streams Server-Sent Events through Express', async () => {
      const r = await fetch(`${base}/api/llm/v1/agents/support/run`, {
        method: 'POST',
        headers: jsonHeaders(secret),
        body: JSON.stringify({ input: 'stream via express', stream: true }),
      })
      expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      const text = await r.text()
      expect(text).toContain('event: delta')
      expect(text).toMatch(/event: done\ndata: \{"type":"done","text":"Echo: stream via express"/)
    })
  })

  describe('Next.js route handlers (toNextRouteHandlers, with NextRequest)', () => {
    let api: Api
    beforeAll(async () => void (api = await startApi(db(), { basePath: '/api/llm' })))
    afterAll(async () => api?.close())

    it('answers GET / POST / DELETE as Next calls them (request, { params })', async () => {
      const { GET, POST, DELETE } = toNextRouteHandlers(api.handler)
      const context = { params: Promise.resolve({ path: ['v1', 'usage'] }) }
      const usage = await GET(new NextRequest('http://localhost:3000/api/llm/v1/usage', { headers: auth(api.acme.secret) }), context)
      expect([usage.status, ((await usage.json()) as any).tenantId]).toEqual([200, 'acme'])
      const created = await POST(
        new NextRequest('http://localhost:3000/api/llm/v1/api-keys', {
          method: 'POST',
          headers: jsonHeaders(api.acme.secret),
          body: JSON.stringify({ name: 'next' }),
        }),
      )
      const { key } = (await created.json()) as any
      expect(created.status).toBe(201)
      const revoked = await DELETE(new NextRequest(`http://localhost:3000/api/llm/v1/api-keys/${key.id}`, { method: 'DELETE', headers: auth(api.acme.secret) }))
      expect(revoked.status).toBe(200)
      const other = await DELETE(
        new NextRequest(`http://localhost:3000/api/llm/v1/api-keys/${api.globex.keyId}`, { method: 'DELETE', headers: auth(api.acme.secret) }),
      )
      expect(other.status).toBe(404)
    })

    it('streams, and a request signal aborted mid-stream (Next aborts it when the client goes) cancels the provider call', async () => {
      api.runtime.defineAgent({ name: 'slow', provider: 'openai', model: 'gpt-4o', retries: 0 })
      api.emulator.script('gpt-4o', { kind: 'ok', text: 'z'.repeat(1500), deltaDelayMs: 10 })
      const { POST } = toNextRouteHandlers(api.handler)
      const controller = new AbortController()
      const req = new NextRequest('http://localhost:3000/api/llm/v1/agents/slow/run', {
        method: 'POST',
        headers: jsonHeaders(api.globex.secret),
        body: JSON.stringify({ input: 'long', stream: true }),
        signal: controller.signal,
      })
      const res = await POST(req)
      const requestId = res.headers.get('x-request-id')
      const reader = res.body!.getReader()
      let got = ''
      while (got.split('event: delta').length < 4) got += new TextDecoder().decode((await reader.read()).value)
      controller.abort()
      await reader.cancel()
      await eventually(async () => {
        const rows = (await createLedger(db().client).executions({ tenant: { id: 'globex' }, limit: 20 })).filter((e) => e.traceId === requestId)
        expect(rows.map((r) => r.status)).toEqual(['cancelled'])
        const holds = await db().rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_budget_holds')
        expect(Number(holds[0].n)).toBe(0)
      })
    })
  })

  describe('Hono (the Fetch handler as it is)', () => {
    let api: Api
    let server: Server
    let base = ''
    beforeAll(async () => {
      api = await startApi(db())
      const app = new Hono()
      app.get('/', (c) => c.text('the app'))
      app.all('/api/llm/*', (c) => api.handler(c.req.raw))
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', overrideGlobalObjects: false }) as Server
      await new Promise((r) => server.once('listening', r))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      await close(server)
      await api?.close()
    })

    it('serves the API inside a Hono app', async () => {
      expect(await (await fetch(`${base}/`)).text()).toBe('the app')
      const r = await fetch(`${base}/api/llm/v1/agents/support/run`, {
        method: 'POST',
        headers: jsonHeaders(api.acme.secret),
        body: JSON.stringify({ input: 'via hono' }),
      })
      expect([r.status, ((await r.json()) as any).text]).toEqual([200, 'Echo: via hono'])
      expect((await fetch(`${base}/api/llm/v1/usage`)).status).toBe(401)
    })
  })
})

describe('the Next.js example route module (examples/next-app, SQLite)', () => {
  const emulator = new ProviderEmulator()
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-next-'))
  afterAll(async () => {
    await emulator.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("app/api/llm/[...path]/route.ts serves the API from its own module's handler", async () => {
    await emulator.start()
    const file = join(dir, 'next.db')
    Object.assign(process.env, {
      DATABASE_URL: `file:${file}`,
      OPENAI_BASE_URL: emulator.openaiBaseURL,
      OPENAI_API_KEY: 'sk-next-example',
      API_KEY_PEPPER: 'a-pepper-for-the-next-test',
    })
    const lib = await import('../../examples/next-app/lib/llm.ts')
    const { applyLlmTenantSchema } = await import('../../src/index.ts')
    await applyLlmTenantSchema(lib.prisma)
    await new TenantStore(lib.prisma).upsert({ tenantId: 'acme', enforcement: 'hard' })
    const { secret } = await lib.apiKeys.createApiKey('acme', { name: 'next' })
    const route = await import('../../examples/next-app/app/api/llm/[...path]/route.ts')
    expect([route.runtime, route.dynamic]).toEqual(['nodejs', 'force-dynamic'])
    const run = await route.POST(
      new NextRequest('http://localhost:3000/api/llm/v1/agents/support/run', {
        method: 'POST',
        headers: jsonHeaders(secret),
        body: JSON.stringify({ input: 'via next' }),
      }),
    )
    expect([run.status, ((await run.json()) as any).text]).toEqual([200, 'Echo: via next'])
    const usage = await route.GET(new NextRequest('http://localhost:3000/api/llm/v1/usage?period=today', { headers: auth(secret) }))
    expect(((await usage.json()) as any).executions).toBe(1)
    await lib.prisma.$disconnect()
    delete process.env.OPENAI_API_KEY
  })
})
