/**
 * The OpenAPI 3.1 document served at `{base}/openapi.json`, tested against the real answers over
 * HTTP on both databases: the document names exactly the routes the handler has; every status of
 * every operation it documents (but 500 and 503) is provoked for real and the answer's body, its
 * content type and its documented headers are checked against it; SSE events against their schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TenantStore } from '../../src/index.ts'
import { ROUTES } from '../../src/http/handler.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { assertKnownKeywords, validate } from './json-schema.ts'
import { call, startApi, type Api } from './server.ts'

type Doc = Record<string, any>

interface Probe {
  method: 'GET' | 'POST' | 'DELETE'
  /** The document's path, e.g. /v1/executions/{id}. */
  doc: string
  path: () => string
  key?: () => string | null
  body?: unknown
  raw?: string
  status: number
}

describe.each(DATABASES)('OpenAPI document vs real answers on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  let doc: Doc
  let execId = ''
  let limited = ''
  let revocable = ''
  let revokedKeyId = ''
  let revokedSecret = ''
  const covered = new Set<string>()

  beforeAll(async () => {
    api = await startApi(db(), { handler: { maxBodyBytes: 2048 } })
    doc = (await (await fetch(`${api.base}/openapi.json`)).json()) as Doc
    execId = (await api.runtime.agent('support').run('seed', { tenant: 'acme', apiKeyId: api.acme.keyId })).executionId
    await new TenantStore(db().client).upsert({ tenantId: 'initech', enforcement: 'hard', rateLimits: { requestsPerDay: 1 } })
    limited = (await api.keys.createApiKey('initech', { name: 'main' })).secret
    revocable = (await api.keys.createApiKey('acme', { name: 'to-revoke' })).key.id
    const revoked = await api.keys.createApiKey('acme', { name: 'revoked' })
    await api.keys.revokeApiKey(revoked.key.id)
    revokedKeyId = revoked.key.id
    revokedSecret = revoked.secret
  })
  afterAll(async () => api?.close())

  it('is OpenAPI 3.1 with every route of the handler and no other', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.servers).toEqual([{ url: '/api/llm' }])
    const documented = Object.entries(doc.paths as Doc).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
    const routes = ROUTES.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
    expect(documented.sort()).toEqual(routes.sort())
    for (const [name, schema] of Object.entries(doc.components.schemas as Doc)) assertKnownKeywords(schema, `#/components/schemas/${name}`)
    // every $ref resolves
    const refs = JSON.stringify(doc).match(/"#\/components\/[^"]+"/g) ?? []
    for (const ref of refs) {
      const target = ref
        .slice(3, -1)
        .split('/')
        .reduce((o: any, k) => o?.[k], doc)
      expect(target, ref).toBeDefined()
    }
  })

  const probes = (): Probe[] => {
    const acme = () => api.acme.secret
    const r = (method: Probe['method'], docPath: string, path: string, status: number, extra: Partial<Probe> = {}): Probe => ({
      method,
      doc: docPath,
      path: () => path,
      key: acme,
      status,
      ...extra,
    })
    return [
      r('GET', '/v1/usage', '/v1/usage?period=today', 200),
      r('GET', '/v1/usage', '/v1/usage?period=never', 400),
      r('GET', '/v1/usage', '/v1/usage', 401, { key: () => null }),
      r('GET', '/v1/usage', '/v1/usage', 403, { key: () => revokedSecret }),
      r('GET', '/v1/usage/daily', '/v1/usage/daily', 200),
      r('GET', '/v1/usage/daily', '/v1/usage/daily?from=x', 400),
      r('GET', '/v1/usage/daily', '/v1/usage/daily', 401, { key: () => null }),
      r('GET', '/v1/usage/daily', '/v1/usage/daily', 403, { key: () => revokedSecret }),
      ...(['agent', 'model', 'key'] as const).flatMap((g) => [
        r('GET', `/v1/usage/by-${g}`, `/v1/usage/by-${g}`, 200),
        r('GET', `/v1/usage/by-${g}`, `/v1/usage/by-${g}?x=1`, 400),
        r('GET', `/v1/usage/by-${g}`, `/v1/usage/by-${g}`, 401, { key: () => 'sk_test_x' }),
        r('GET', `/v1/usage/by-${g}`, `/v1/usage/by-${g}`, 403, { key: () => revokedSecret }),
      ]),
      r('GET', '/v1/executions', '/v1/executions?limit=1', 200),
      r('GET', '/v1/executions', '/v1/executions?status=x', 400),
      r('GET', '/v1/executions', '/v1/executions', 401, { key: () => null }),
      r('GET', '/v1/executions', '/v1/executions', 403, { key: () => revokedSecret }),
      { ...r('GET', '/v1/executions/{id}', '', 200), path: () => `/v1/executions/${execId}` },
      { ...r('GET', '/v1/executions/{id}', '', 400), path: () => `/v1/executions/${execId}?x=1` },
      r('GET', '/v1/executions/{id}', '/v1/executions/nope', 404),
      r('GET', '/v1/executions/{id}', '/v1/executions/nope', 401, { key: () => null }),
      r('GET', '/v1/executions/{id}', '/v1/executions/nope', 403, { key: () => revokedSecret }),
      r('GET', '/v1/api-keys', '/v1/api-keys', 200),
      r('GET', '/v1/api-keys', '/v1/api-keys?all=1', 400),
      r('GET', '/v1/api-keys', '/v1/api-keys', 401, { key: () => null }),
      r('GET', '/v1/api-keys', '/v1/api-keys', 403, { key: () => revokedSecret }),
      r('POST', '/v1/api-keys', '/v1/api-keys', 201, { body: { name: 'doc' } }),
      r('POST', '/v1/api-keys', '/v1/api-keys', 400, { body: { nom: 'doc' } }),
      r('POST', '/v1/api-keys', '/v1/api-keys', 413, { body: { name: 'x'.repeat(5000) } }),
      r('POST', '/v1/api-keys', '/v1/api-keys', 401, { key: () => null, body: { name: 'doc' } }),
      r('POST', '/v1/api-keys', '/v1/api-keys', 403, { key: () => revokedSecret, body: { name: 'doc' } }),
      { ...r('POST', '/v1/api-keys/{id}/rotate', '', 200), path: () => `/v1/api-keys/${revocable}/rotate` },
      { ...r('POST', '/v1/api-keys/{id}/rotate', '', 400, { body: { gracePeriod: 'soon' } }), path: () => `/v1/api-keys/${revocable}/rotate` },
      { ...r('POST', '/v1/api-keys/{id}/rotate', '', 413, { body: { gracePeriod: 'x'.repeat(5000) } }), path: () => `/v1/api-keys/${revocable}/rotate` },
      { ...r('POST', '/v1/api-keys/{id}/rotate', '', 409), path: () => `/v1/api-keys/${revokedKeyId}/rotate` },
      { ...r('POST', '/v1/api-keys/{id}/rotate', '', 404), path: () => `/v1/api-keys/${api.globex.keyId}/rotate` },
      r('POST', '/v1/api-keys/{id}/rotate', '/v1/api-keys/x/rotate', 401, { key: () => null }),
      r('POST', '/v1/api-keys/{id}/rotate', '/v1/api-keys/x/rotate', 403, { key: () => revokedSecret }),
      { ...r('DELETE', '/v1/api-keys/{id}', '', 200), path: () => `/v1/api-keys/${revocable}` },
      { ...r('DELETE', '/v1/api-keys/{id}', '', 400), path: () => `/v1/api-keys/${revocable}?force=1` },
      { ...r('DELETE', '/v1/api-keys/{id}', '', 409), path: () => `/v1/api-keys/${revocable}` },
      { ...r('DELETE', '/v1/api-keys/{id}', '', 404), path: () => `/v1/api-keys/${api.globex.keyId}` },
      r('DELETE', '/v1/api-keys/{id}', '/v1/api-keys/x', 401, { key: () => null }),
      r('DELETE', '/v1/api-keys/{id}', '/v1/api-keys/x', 403, { key: () => revokedSecret }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 200, { body: { input: 'hi' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 200, { body: { input: 'hi', stream: true } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 400, { body: { input: 42 } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/nobody/run', 404, { body: { input: 'hi' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 413, { body: { input: 'x'.repeat(5000) } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 200, { key: () => limited, body: { input: 'one' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 429, { key: () => limited, body: { input: 'two' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/writer/run', 502, { body: { input: 'fails' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 401, { key: () => null, body: { input: 'hi' } }),
      r('POST', '/v1/agents/{name}/run', '/v1/agents/support/run', 403, { key: () => revokedSecret, body: { input: 'hi' } }),
    ]
  }

  it('every documented status of every operation (but 500, 503) answers as documented', async () => {
    api.emulator.script('claude-haiku-4-5', { kind: 'error', status: 500 })
    for (const p of probes()) {
      const name = `${p.method} ${p.path()} → ${p.status}`
      const res = await call(api, p.path(), { key: p.key?.() ?? null, method: p.method, ...(p.body !== undefined ? { body: JSON.stringify(p.body) } : {}) })
      expect(res.status, name).toBe(p.status)
      const op = doc.paths[p.doc][p.method.toLowerCase()]
      const documented = op.responses[String(p.status)]
      expect(documented, `${name}: status documented`).toBeDefined()
      for (const h of Object.keys(documented.headers ?? {})) expect(res.headers.get(h), `${name}: header ${h}`).not.toBeNull()
      const type = (res.headers.get('content-type') ?? '').split(';')[0]
      expect(Object.keys(documented.content), `${name}: content type`).toContain(type)
      if (type === 'text/event-stream') {
        const events = (await res.text()).split('\n\n').filter((b) => b.trim())
        for (const block of events) {
          const event = /^event: (\w+)$/m.exec(block)![1]
          const data = JSON.parse(/^data: (.*)$/m.exec(block)![1])
          const schema = { delta: 'StreamDelta', done: 'StreamDone', error: 'StreamError' }[event]!
          expect(validate(data, { $ref: `#/components/schemas/${schema}` }, doc), `${name}: ${event} event`).toEqual([])
        }
      } else {
        const body = await res.json()
        expect(validate(body, documented.content[type].schema, doc), name).toEqual([])
      }
      covered.add(`${p.method} ${p.doc} ${p.status}`)
    }
    const expected = Object.entries(doc.paths as Doc).flatMap(([path, ops]) =>
      Object.entries(ops as Doc).flatMap(([m, op]) =>
        Object.keys((op as Doc).responses)
          .filter((s) => s !== '500' && s !== '503')
          .map((s) => `${m.toUpperCase()} ${path} ${s}`),
      ),
    )
    expect(expected.filter((e) => !covered.has(e))).toEqual([])
  })
})
