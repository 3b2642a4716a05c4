/**
 * Under toNodeListener the API's JSON answers are written to the socket directly (reply.ts,
 * adapters.ts) instead of going through a Fetch Response. Over real HTTP they must be exactly what
 * the Fetch handler answers for the same request: status, body, every header (names lowercase, as a
 * Response sends them; the request id differs by request), with a content-length and no chunking —
 * for successes, each error class (401 with its challenge, 404, 405 with Allow, 400, 429 with
 * Retry-After and the RateLimit headers) and the OpenAPI document.
 */
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TenantStore } from '../../src/index.ts'
import { JsonReply } from '../../src/http/reply.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { startApi, type Api } from './server.ts'

interface Raw {
  status: number
  headers: Record<string, string>
  /** Header names in the order they arrived. */
  order: string[]
  body: string
}

/** One request over node:http, headers as received (names lowercased by node), body as text. */
function rawRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as Record<string, string>,
          order: res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()),
          body: text,
        }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The parts that differ from request to request: ids, and instants taken from the clock. */
const withoutIds = (text: string) =>
  text
    .replace(/req_[0-9a-f]{32}/g, 'req_ID')
    .replace(/"(id|executionId|traceId|resetsAt)":"[^"]+"/g, '"$1":"X"')
    .replace(/"(retryAfter|durationMs|retryAfterMs)":\d+/g, '"$1":0')
    .replace(/retry after \d+ ms/g, 'retry after N ms')

describe.each(DATABASES)('JSON answers written directly on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  beforeAll(async () => {
    api = await startApi(db(), { config: { tenantCacheTtlMs: 0 } })
    await new TenantStore(db().client).upsert({ tenantId: 'acme', enforcement: 'hard', rateLimits: { requestsPerMinute: 2 } })
  })
  afterAll(async () => api?.close())

  it('are the Fetch handler’s answers, byte for byte, with a content-length', async () => {
    const key = { authorization: `Bearer ${api.acme.secret}` }
    const json = { ...key, 'content-type': 'application/json' }
    const cases: Array<[string, string, Record<string, string>, string?]> = [
      ['GET', '/v1/usage', key],
      ['GET', '/v1/api-keys', key],
      ['GET', '/openapi.json', {}],
      ['GET', '/v1/usage', {}], // 401 missing key
      ['GET', '/v1/usage', { authorization: 'Bearer sk_test_nope' }], // 401 malformed
      ['GET', '/v1/nothing-here', key], // 404
      ['DELETE', '/v1/usage', key], // 405
      ['GET', '/v1/usage?period=fortnight', key], // 400
      // Each case runs twice (over HTTP, then through the Fetch handler): two a minute, so the second is a 429 both ways.
      ['POST', '/v1/agents/support/run', json, '{"input":"hi"}'],
      ['POST', '/v1/agents/support/run', json, '{"input":"hi"}'],
    ]
    const statuses: number[] = []
    for (const [method, path, headers, body] of cases) {
      const node = await rawRequest(`${api.base}${path}`, method, headers, body)
      // The same request straight to the Fetch handler (its Response, as Next.js or Hono would send it).
      const fetched = await api.handler(new Request(`${api.base}${path}`, { method, headers, body }))
      const fetchedHeaders: Record<string, string> = {}
      fetched.headers.forEach((v, k) => (fetchedHeaders[k] = v))
      statuses.push(node.status)
      expect(node.status, `${method} ${path}`).toBe(fetched.status)
      expect(withoutIds(node.body), `${method} ${path}`).toBe(withoutIds(await fetched.text()))
      expect(node.headers['content-length'], `${method} ${path}`).toBe(String(Buffer.byteLength(node.body)))
      expect(node.headers['transfer-encoding']).toBeUndefined()
      const names = (h: Record<string, string>) =>
        Object.keys(h)
          .filter((n) => !['date', 'connection', 'keep-alive', 'content-length'].includes(n))
          .sort()
      expect(names(node.headers), `${method} ${path}`).toEqual(names(fetchedHeaders))
      for (const n of names(fetchedHeaders)) {
        if (n === 'x-request-id' || n === 'ratelimit' || n === 'retry-after') continue // per request / per instant
        expect(node.headers[n], `${method} ${path}: ${n}`).toBe(fetchedHeaders[n])
      }
    }
    expect(statuses).toEqual([200, 200, 200, 401, 401, 404, 405, 400, 200, 429])
  })

  // Regression: the check that keeps the direct path away from the bridge's own lightweight
  // Responses looked for symbol-keyed properties — which Node 20's own Response has too, so every
  // answer on Node 20 went through a Response and the bridge's stream read after all (found by
  // profiling scenario 10). Observable on the wire: written directly, content-length is the first
  // header; through the bridge it is added after the Response's headers.
  it('are taken on this Node: no Response is built, and content-length comes first, as the direct write sends it', async () => {
    const key = { authorization: `Bearer ${api.globex.secret}` }
    const toResponse = vi.spyOn(JsonReply.prototype, 'toResponse') // watched, not replaced
    for (const [method, path, headers, body] of [
      ['GET', '/v1/usage', key],
      ['GET', '/v1/usage', {}],
      ['POST', '/v1/agents/support/run', { ...key, 'content-type': 'application/json' }, '{"input":"hi"}'],
    ] as Array<[string, string, Record<string, string>, string?]>) {
      const node = await rawRequest(`${api.base}${path}`, method, headers, body)
      expect(node.order[0], `${method} ${path}: ${node.order.join(', ')}`).toBe('content-length')
    }
    expect(toResponse).not.toHaveBeenCalled()
    toResponse.mockRestore()
  })
})
