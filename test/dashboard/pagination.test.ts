/**
 * Keyset pagination walked through the "Next" links, on SQLite and PostgreSQL: more than 25
 * tenants (equal spends, equal and missing names) in every sort, and more than 50 executions that
 * share one `startedAt` millisecond — unfiltered, and filtered across tenants (narrowed by the day
 * rollup, for a period and for all time) — every row exactly once, none skipped. Free-form tenant
 * ids and model names carrying the XSS set end up in `href`, `value` and `data-*` attributes only
 * escaped. A tenant whose status cannot be read is listed as "unavailable" (and reported), not "none".
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createLlmDashboard, type LlmDashboardHandler } from '../../src/dashboard/index.ts'
import { createLedger, createLlmRuntime, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { as, SECRET, TIME_ZONE } from './seed.ts'

const XSS_TENANT = '"><img src=x onerror=window.__xss=9>'
const XSS_MODEL = '"><svg onload=window.__xss=7>'
const TENANTS = 60
const DAY = 86_400_000

const unescapeHtml = (s: string) =>
  s.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#39;', "'").replaceAll('&#96;', '`').replaceAll('&amp;', '&')

describe.each(DATABASES)('keyset pages on %s', (kind) => {
  const db = useDatabase(kind)
  let dashboard: LlmDashboardHandler
  const tenantIds = [...Array.from({ length: TENANTS }, (_, i) => `t-${String(i).padStart(3, '0')}`), XSS_TENANT, 'a&b "quoted"']
  const t1 = new Date(Date.now() - 2 * DAY)
  const t2 = new Date(Date.now() - 9 * DAY)

  beforeAll(async () => {
    const store = new TenantStore(db().client)
    for (const [i, tenantId] of tenantIds.entries()) await store.upsert({ tenantId, ...(i % 3 === 1 ? {} : { name: i % 3 === 0 ? 'Same' : `N${i % 5}` }) })
    const ledger = createLedger(db().client, { timeZone: TIME_ZONE })
    // Equal spends (four values) for the tenants, all at one instant.
    await ledger.recordExecutions(tenantIds.map((tenantId, i) => ({ tenantId, agentType: 'bulk', model: 'm', inputCost: `${(i % 4) * 0.25}`, startedAt: t1 })))
    // 60 + 15 rows of agent 'pager' sharing their instant's millisecond, on two days with others between.
    await ledger.recordExecutions(Array.from({ length: 60 }, (_, i) => ({ tenantId: tenantIds[i % 7], agentType: 'pager', model: XSS_MODEL, startedAt: t1 })))
    await ledger.recordExecutions(Array.from({ length: 15 }, (_, i) => ({ tenantId: tenantIds[i % 5], agentType: 'pager', model: 'm', startedAt: t2 })))
    await ledger.recordExecutions(
      Array.from({ length: 5 }, (_, i) => ({ tenantId: 't-001', agentType: 'other', model: 'm', startedAt: new Date(t2.getTime() + (i + 2) * DAY) })),
    )
    dashboard = createLlmDashboard(db().client, {
      config: { timeZone: TIME_ZONE },
      secret: SECRET,
      auth: () => ({ role: 'operator', actor: { type: 'user', id: 'op-1' } }),
    })
  }, 60_000)

  const get = async (path: string) => {
    const res = await dashboard(new Request(`http://localhost${path}`, { headers: as('operator') }))
    const body = await res.text()
    expect(res.status, `${path}: ${body.slice(0, 300)}`).toBe(200)
    return body
  }

  /** Every page from `first` through its "Next" links: the values of `attribute` in page order. */
  async function walk(first: string, attribute: string): Promise<{ values: string[]; pages: string[] }> {
    const values: string[] = []
    const pages: string[] = []
    let path: string | null = first
    while (path !== null && pages.length < 20) {
      const body = await get(path)
      pages.push(body)
      for (const m of body.matchAll(new RegExp(`<tr ${attribute}="([^"]*)"`, 'g'))) values.push(unescapeHtml(m[1]))
      const next = body.match(/id="next-page" href="([^"]*)"/)?.[1]
      path = next ? unescapeHtml(next) : null
    }
    return { values, pages }
  }

  it.each(['spend', 'id', 'name'])('walks the tenants sorted by %s: every tenant once', async (sort) => {
    const { values, pages } = await walk(`/tenants?sort=${sort}`, 'data-tenant')
    expect(pages.length).toBe(Math.ceil(tenantIds.length / 25))
    expect(values.length).toBe(tenantIds.length)
    expect(new Set(values)).toEqual(new Set(tenantIds))
    if (sort === 'spend') {
      const spend = (id: string) => tenantIds.indexOf(id) % 4
      const month = (d: Date) => d.toISOString().slice(0, 7)
      if (month(t1) === month(new Date())) values.slice(1).forEach((id, i) => expect(spend(id)).toBeLessThanOrEqual(spend(values[i])))
    }
  })

  it.each([
    ['/executions?period=all', { agentType: undefined }],
    ['/executions', { agentType: undefined }],
    ['/executions?agent=pager&period=all', { agentType: 'pager' }],
    ['/executions?agent=pager', { agentType: 'pager' }],
    [`/executions?model=${encodeURIComponent(XSS_MODEL)}&period=all`, { model: XSS_MODEL }],
  ])('walks %s: every execution once, rows sharing one millisecond included', async (path, where) => {
    const expected = (await db().client.llmExecution.findMany({ where, select: { id: true } })).map((r) => r.id)
    expect(expected.length).toBeGreaterThan(50)
    const { values } = await walk(path, 'data-execution')
    expect(values.length).toBe(expected.length)
    expect(new Set(values)).toEqual(new Set(expected))
  })

  it('free-form tenant ids and model names appear in href, value and data-* attributes only escaped', async () => {
    const bodies = [
      ...(await walk('/tenants?sort=id', 'data-tenant')).pages,
      ...(await walk(`/executions?model=${encodeURIComponent(XSS_MODEL)}&period=all`, 'data-execution')).pages,
      await get(`/tenants/${encodeURIComponent(XSS_TENANT)}`),
      await get(`/executions?tenant=${encodeURIComponent(XSS_TENANT)}`),
    ]
    const [pagerRow] = await db().client.llmExecution.findMany({ where: { model: XSS_MODEL }, take: 1 })
    bodies.push(await get(`/executions/${encodeURIComponent(pagerRow.id)}`))
    for (const body of bodies) {
      expect(body).not.toContain(XSS_TENANT)
      expect(body).not.toContain(XSS_MODEL)
      expect(body).not.toContain('<img src=x')
      expect(body).not.toContain('<svg')
    }
    const all = bodies.join('\n')
    expect(all).toContain('data-tenant="&quot;&gt;&lt;img src=x onerror=window.__xss=9&gt;"')
    expect(all).toContain(`href="/tenants/${encodeURIComponent(XSS_TENANT)}"`)
    expect(all).toContain('value="&quot;&gt;&lt;svg onload=window.__xss=7&gt;"')
    expect(all).toContain(`model=${encodeURIComponent(XSS_MODEL).replaceAll('%20', '+')}`) // the Next link's query
  })

  it('tenant status hidden as none: a failing status read shows "unavailable" and is reported', async () => {
    const runtime = createLlmRuntime(db().client, { config: { timeZone: TIME_ZONE } })
    const status = runtime.budgets.status.bind(runtime.budgets)
    const rates = runtime.budgets.rateLimitStatus.bind(runtime.budgets)
    const broken = (tenant: unknown) => tenant === 't-000' || tenant === 't-004'
    runtime.budgets.status = async (tenant, ...rest) => (broken(tenant) ? Promise.reject(new Error('status down')) : status(tenant, ...rest))
    runtime.budgets.rateLimitStatus = async (tenant, ...rest) => (broken(tenant) ? Promise.reject(new Error('rates down')) : rates(tenant, ...rest))
    const reported: unknown[] = []
    const failing = createLlmDashboard(db().client, {
      runtime,
      secret: SECRET,
      auth: () => ({ role: 'operator', actor: { type: 'user', id: 'op-1' } }),
      onError: (err) => reported.push(err),
    })
    const res = await failing(new Request('http://localhost/tenants?sort=id'))
    expect(res.status).toBe(200)
    const rows = [...(await res.text()).matchAll(/<tr data-tenant="([^"]*)">([\s\S]*?)<\/tr>/g)].map((m) => [m[1], m[2]] as const)
    const row = (id: string) => rows.find(([t]) => t === id)?.[1] ?? ''
    for (const id of ['t-000', 't-004']) {
      expect(row(id).match(/unavailable/g)?.length, id).toBe(4) // plan, two budget bars, rate limits
      expect(row(id)).not.toContain('>none<')
    }
    expect(row('t-001')).not.toContain('unavailable')
    expect(reported.map((e) => (e as Error).message).sort()).toEqual(['rates down', 'rates down', 'status down', 'status down'])
  })
})
