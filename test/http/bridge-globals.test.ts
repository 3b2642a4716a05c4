/**
 * Regression (found in review): an app that runs @hono/node-server's `serve()` or
 * `getRequestListener` with their default `overrideGlobalObjects: true` replaces the global
 * `Response` before toNodeListener loads the bridge. The bridge's RESPONSE_ALREADY_SENT is then one
 * of its own lightweight Responses, which it writes again — after a JSON answer written directly,
 * that was a second `writeHead` and a destroyed socket. toNodeListener answers with Responses then.
 * (Its own file: the globals stay replaced for every test in it.) Verified failing without the fix.
 */
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { call, startApi, type Api } from './server.ts'

const globalResponse = globalThis.Response
getRequestListener(async () => new Response('not used')) // as `serve()` does by default: replaces the global Request / Response

describe.each(DATABASES)('with the bridge’s globals in place, on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  beforeAll(async () => void (api = await startApi(db())))
  afterAll(async () => api?.close())

  it('the globals were replaced (the test would prove nothing otherwise)', () => {
    expect(globalThis.Response).not.toBe(globalResponse)
  })

  it('JSON answers, errors and runs arrive once, whole, and the bridge reports no failed write', async () => {
    // The bridge reports a failed write with console.error, then destroys the connection.
    const reported = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const usage = await call(api, '/v1/usage', { key: api.acme.secret })
    expect(usage.status).toBe(200)
    expect(((await usage.json()) as { tenantId: string }).tenantId).toBe('acme')
    const missing = await call(api, '/v1/usage')
    expect(missing.status).toBe(401)
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('missing_api_key')
    const run = await call(api, '/v1/agents/support/run', { key: api.acme.secret, method: 'POST', body: JSON.stringify({ input: 'hi' }) })
    expect(run.status).toBe(200)
    expect(typeof ((await run.json()) as { text: unknown }).text).toBe('string')
    const again = await call(api, '/v1/usage', { key: api.globex.secret })
    expect(((await again.json()) as { tenantId: string }).tenantId).toBe('globex')
    expect(reported.mock.calls.map((c) => String(c[0]))).toEqual([])
    reported.mockRestore()
  })
})
