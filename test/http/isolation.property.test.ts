/**
 * Two tenants hammering the API at once (fast-check: random mixes of runs, key creation and every
 * read route, all in flight together), on both databases: every answer is the caller's own data —
 * each execution, key and usage group it lists belongs to the caller's tenant (checked against
 * the database, not against the API), the other tenant's ids are 404, and the usage figures equal
 * the caller's own ledger.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLedger } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { call, startApi, type Api } from './server.ts'

type Tenant = 'acme' | 'globex'
const OPS = ['run', 'stream', 'createKey', 'usage', 'daily', 'byAgent', 'byKey', 'executions', 'keys', 'othersExecution', 'othersKey'] as const
type Op = (typeof OPS)[number]

describe.each(DATABASES)('tenant isolation under concurrent load on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  const other = (t: Tenant): Tenant => (t === 'acme' ? 'globex' : 'acme')
  const secret = (t: Tenant) => api[t].secret
  const lastExec: Record<Tenant, string> = { acme: '', globex: '' }

  beforeAll(async () => {
    api = await startApi(db())
    for (const t of ['acme', 'globex'] as const)
      lastExec[t] = (await api.runtime.agent('support').run('seed', { tenant: t, apiKeyId: api[t].keyId })).executionId
  })
  afterAll(async () => api?.close())

  /** The tenant of every execution and key, as the database says. */
  async function owners(): Promise<Map<string, string>> {
    const rows = await db().rawQuery<{ id: string; tenant_id: string }>(
      'SELECT id, tenant_id FROM llm_executions UNION ALL SELECT id, tenant_id FROM llm_api_keys',
    )
    return new Map(rows.map((r) => [r.id, r.tenant_id]))
  }

  async function perform(t: Tenant, op: Op): Promise<{ t: Tenant; op: Op; status: number; body: any }> {
    const key = secret(t)
    const post = (path: string, body: unknown) => call(api, path, { key, method: 'POST', body: JSON.stringify(body) })
    const res = await {
      run: () => post('/v1/agents/support/run', { input: `from ${t}` }),
      stream: () => post('/v1/agents/support/run', { input: `stream ${t}`, stream: true }),
      createKey: () => post('/v1/api-keys', { name: `k-${t}` }),
      usage: () => call(api, '/v1/usage?period=today', { key }),
      daily: () => call(api, '/v1/usage/daily', { key }),
      byAgent: () => call(api, '/v1/usage/by-agent?period=today', { key }),
      byKey: () => call(api, '/v1/usage/by-key?period=today', { key }),
      executions: () => call(api, '/v1/executions?limit=100', { key }),
      keys: () => call(api, '/v1/api-keys', { key }),
      othersExecution: () => call(api, `/v1/executions/${lastExec[other(t)]}`, { key }),
      othersKey: () => call(api, `/v1/api-keys/${api[other(t)].keyId}/rotate`, { key, method: 'POST' }),
    }[op]()
    const text = await res.text()
    const body = op === 'stream' ? text : JSON.parse(text)
    if (op === 'run' && res.status === 200) lastExec[t] = body.executionId
    return { t, op, status: res.status, body }
  }

  it('each tenant sees only its own data', async () => {
    const action = fc.record({ t: fc.constantFrom<Tenant>('acme', 'globex'), op: fc.constantFrom(...OPS) })
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 6, maxLength: 30 }), async (actions) => {
        const results = await Promise.all(actions.map((a) => perform(a.t, a.op)))
        const owner = await owners()
        for (const { t, op, status, body } of results) {
          const where = `${t} ${op}`
          if (op === 'othersExecution' || op === 'othersKey') {
            expect([status, body.error.type], where).toEqual([404, 'not_found'])
            continue
          }
          expect(status, `${where}: ${JSON.stringify(body).slice(0, 200)}`).toBe(op === 'createKey' ? 201 : 200)
          if (op === 'run') expect(owner.get(body.executionId), where).toBe(t)
          if (op === 'stream') expect(owner.get(JSON.parse(/event: done\ndata: (.*)/.exec(body)![1]).executionId), where).toBe(t)
          if (op === 'createKey') expect(owner.get(body.key.id), where).toBe(t)
          if (op === 'usage' || op === 'daily' || op === 'byAgent' || op === 'byKey') expect(body.tenantId, where).toBe(t)
          if (op === 'byKey') for (const g of body.data) expect(g.apiKeyId === null ? t : owner.get(g.apiKeyId), where).toBe(t)
          if (op === 'executions' || op === 'keys') {
            expect(body.data.length, where).toBeGreaterThan(0)
            for (const item of body.data) expect(owner.get(item.id), where).toBe(t)
          }
        }
      }),
      { numRuns: 25 },
    )
    // After the storm: each tenant's usage is its own ledger, to the nano-dollar.
    for (const t of ['acme', 'globex'] as const) {
      const usage = (await (await call(api, '/v1/usage?period=today', { key: secret(t) })).json()) as any
      const own = await createLedger(db().client).usageSummary({ tenantId: t, period: 'today' })
      expect([usage.cost, usage.executions, usage.tokens]).toEqual([own.cost.toFixed(), own.executions, own.tokens])
    }
  })
})
