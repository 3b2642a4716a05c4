/**
 * The dashboard over real HTTP, on SQLite and PostgreSQL, at the string level: every route is
 * refused without a session; a tenant session reaches its own tenant only (another tenant's
 * tenant, execution and key ids → 404, operator pages and actions → 403, nothing written); every
 * POST needs its CSRF token and a same-origin request; bad input is a 400 naming the field; the XSS
 * set appears only escaped; the security headers are on every answer; the day rollup stays exact
 * when older rows are recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { csrfToken } from '../../src/dashboard/context.ts'
import { html, raw } from '../../src/dashboard/html.ts'
import { createLlmDashboard } from '../../src/dashboard/index.ts'
import { encodeCursor } from '../../src/dashboard/input.ts'
import { dayKey } from '../../src/foundation/periods.ts'
import { createLedger, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { writes } from '../http/server.ts'
import { as, SECRET, seedDashboard, TIME_ZONE, XSS_AGENT, XSS_META, XSS_NAME, type Seeded } from './seed.ts'

const operatorToken = csrfToken(SECRET, { role: 'operator', actor: { type: 'user', id: 'op-1' } })

describe('the html helper', () => {
  it('escapes every interpolation unless it is SafeHtml', () => {
    const name = '<img src=x onerror="x()">'
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;x()&quot;&gt;">&lt;img src=x onerror=&quot;x()&quot;&gt;</p>',
    )
    expect(html`<b>${[name, html`<i>ok</i>`]}</b>`.value).toBe('<b>&lt;img src=x onerror=&quot;x()&quot;&gt;<i>ok</i></b>')
    expect(html`${raw('<br>')}${"'`"}`.value).toBe('<br>&#39;&#96;')
  })
})

describe.each(DATABASES)('dashboard routes on %s', (kind) => {
  const db = useDatabase(kind)
  let s: Seeded
  beforeAll(async () => {
    s = await seedDashboard(db())
  }, 60_000)
  afterAll(() => s?.close())

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${s.base}${path}`, { headers, redirect: 'manual' })
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${s.base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    })
  const fill = (path: string) => path.replace(':id', 'acme').replace(':keyId', s.acmeKeyId).replace(':name', 'dashboard.css')

  it('refuses every route without a session (401), before anything is read or written', async () => {
    const before = await writes(db())
    for (const route of s.dashboard.routes) {
      const res = route.method === 'GET' ? await get(fill(route.path)) : await post(fill(route.path), { _csrf: operatorToken, active: 'false' })
      expect(res.status, `${route.method} ${route.path}`).toBe(401)
      expect(await res.text()).not.toContain('acme')
    }
    expect(await writes(db())).toEqual(before)
  })

  it('answers with the security headers, pages with no-store', async () => {
    for (const path of ['/', '/tenants/acme', '/executions?status=nope', '/nowhere']) {
      const res = await get(path, as('operator'))
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('unsafe-inline')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('referrer-policy')).toBe('same-origin')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
    const css = await get('/assets/dashboard.css', as('operator'))
    expect(css.headers.get('content-type')).toContain('text/css')
    expect((await get('/assets/uplot.js', as('operator'))).status).toBe(200)
  })

  it("a tenant session gets 404 for another tenant's ids and 403 for operator pages, writing nothing", async () => {
    const globex = as('tenant', 'globex')
    const before = await writes(db())
    expect((await get('/tenants/globex', globex)).status).toBe(200)
    expect((await get(`/executions/${s.globexExecutionId}`, globex)).status).toBe(200)
    for (const path of [
      '/tenants/acme',
      '/tenants/acme/audit',
      '/tenants/nobody',
      `/executions/${s.acmeExecutionId}`,
      '/executions?tenant=acme',
      `/executions?key=${s.acmeKeyId}`,
    ]) {
      expect((await get(path, globex)).status, path).toBe(404)
    }
    for (const path of ['/tenants', '/tenants?q=acme']) expect((await get(path, globex)).status, path).toBe(403)
    const token = csrfToken(SECRET, { role: 'tenant', tenantId: 'globex', actor: { type: 'tenant_user', id: 'tu-1' } })
    for (const route of s.dashboard.routes.filter((r) => r.method === 'POST')) {
      for (const tenant of ['acme', 'globex']) {
        const path = route.path.replace(':id', tenant).replace(':keyId', tenant === 'acme' ? s.acmeKeyId : s.globexKeyId)
        expect((await post(path, { _csrf: token, active: 'false' }, globex)).status, path).toBe(403)
      }
    }
    const own = await (await get('/executions', globex)).text()
    expect(own).toContain('writer')
    expect(own).not.toContain('support')
    expect(await writes(db())).toEqual(before)
  })

  it('refuses a POST without the CSRF token, with a wrong one or from another origin, writing nothing', async () => {
    const before = await writes(db())
    const path = '/tenants/globex/active'
    const cases: Array<[Record<string, string>, Record<string, string>]> = [
      [{ active: 'false' }, {}],
      [{ active: 'false', _csrf: 'x'.repeat(operatorToken.length) }, {}],
      [{ active: 'false', _csrf: csrfToken(SECRET, { role: 'operator', actor: { type: 'user', id: 'someone-else' } }) }, {}],
      [{ active: 'false', _csrf: operatorToken }, { origin: 'https://evil.example' }],
      [{ active: 'false', _csrf: operatorToken }, { 'sec-fetch-site': 'cross-site' }],
    ]
    for (const [fields, headers] of cases) {
      const res = await post(path, fields, { ...as('operator'), ...headers })
      expect(res.status, JSON.stringify({ fields, headers })).toBe(403)
    }
    expect(await writes(db())).toEqual(before)
    const ok = await post('/tenants/globex/limits', { _csrf: operatorToken, dailyCost: '2.5', monthlyCost: '', enforcement: 'hard' }, as('operator'))
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/admin/llm/tenants/globex?done=limits')
    const [event] = await db().rawQuery<{ actor_type: string; actor_id: string; action: string }>(
      `SELECT actor_type, actor_id, action FROM llm_audit_events WHERE tenant_id = 'globex' ORDER BY occurred_at DESC LIMIT 1`,
    )
    expect(event).toMatchObject({ actor_type: 'user', actor_id: 'op-1', action: 'tenant.limits.changed' })
  })

  it('bad input is a 400 page naming the field and what it allows; nothing is written', async () => {
    const before = await writes(db())
    const cases: Array<[string, string, string]> = [
      ['/tenants?sort=cost', 'sort', 'spend, id, name'],
      ['/tenants?cursor=%%%', 'cursor', 'Next'],
      ['/tenants?cursor=bm90LWpzb24', 'cursor', 'Next'],
      ['/executions?period=forever', 'period', 'last_30_days'],
      ['/executions?status=failed', 'status', 'refused'],
      ['/executions?colour=red', 'query parameter', 'tenant, agent'],
      ['/tenants/acme?period=2020', 'period', 'this_month'],
      ['/tenants/acme/audit?cursor=zzz', 'query.cursor', 'nextCursor'],
    ]
    for (const [path, field, allowed] of cases) {
      const res = await get(path, as('operator'))
      const body = await res.text()
      expect(res.status, path).toBe(400)
      expect(body, path).toContain(field)
      expect(body, path).toContain(allowed)
    }
    for (const [fields, field] of [
      [{ dailyCost: 'ten', enforcement: 'hard' }, 'dailyCost'],
      [{ dailyTokens: '1.5', enforcement: 'hard' }, 'dailyTokens'],
      [{ enforcement: 'strict' }, 'enforcement'],
      [{ dailyCost: '1', enforcement: 'hard', extra: '1' }, 'form field'],
    ] as Array<[Record<string, string>, string]>) {
      const res = await post('/tenants/acme/limits', { _csrf: operatorToken, ...fields }, as('operator'))
      expect(res.status, field).toBe(400)
      expect(await res.text()).toContain(field)
    }
    expect((await post('/tenants/acme/plan', { _csrf: operatorToken, plan: 'gold' }, as('operator'))).status).toBe(400)
    expect((await post(`/tenants/globex/keys/${s.acmeKeyId}/revoke`, { _csrf: operatorToken }, as('operator'))).status).toBe(404)
    expect(await writes(db())).toEqual(before)
  })

  it('shows the XSS set only escaped', async () => {
    const pages = ['/', '/tenants', '/tenants/acme', '/executions', `/executions/${s.acmeExecutionId}`, '/tenants/acme/audit']
    for (const path of pages) {
      const body = await (await get(path, as('operator'))).text()
      for (const bad of [XSS_NAME, XSS_AGENT, XSS_META, '<script>window.__xss']) expect(body, path).not.toContain(bad)
    }
    const overview = await (await get('/', as('operator'))).text()
    expect(overview).toContain('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;Acme')
    expect(overview).toContain('&quot;&gt;&lt;script&gt;window.__xss=2&lt;/script&gt;')
  })

  it('keeps the day rollup exact: an older row recorded through the ledger shows at once', async () => {
    const ledger = createLedger(db().client, { timeZone: TIME_ZONE })
    const chart = async () => {
      const body = await (await get('/', as('operator'))).text()
      const json = body.match(/<script type="application\/json" id="chart-cost-data" data-chart="chart-cost">(.*?)<\/script>/)?.[1] ?? '{}'
      return JSON.parse(json) as { days: string[]; cost: number[] }
    }
    const first = await chart() // stores the days that are over
    const stored = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_usage_days WHERE status = '*'`)
    expect(Number(stored[0].n)).toBeGreaterThan(20)
    // A fixed instant, looked up by its zone-local day in each chart: no index that shifts when
    // Berlin's midnight passes between the reads.
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000)
    const day = dayKey(tenDaysAgo, TIME_ZONE)
    await ledger.recordExecution({ tenantId: 'initech', agentType: 'batch', model: 'gpt-4o', inputCost: '7.25', startedAt: tenDaysAgo })
    const second = await chart()
    expect(first.days).toContain(day)
    expect(second.cost[second.days.indexOf(day)] - first.cost[first.days.indexOf(day)]).toBeCloseTo(7.25, 9)
  })

  it('TLS proxy origin: an https Origin of this host is accepted with a valid token; another host is refused', async () => {
    const host = new URL(s.base).host
    const before = await writes(db())
    for (const origin of ['https://evil.example', `https://${host}.evil.example`, 'null', `http://${new URL(s.base).hostname}:1`]) {
      const res = await post('/tenants/initech/active', { _csrf: operatorToken, active: 'false' }, { ...as('operator'), origin })
      expect(res.status, origin).toBe(403)
    }
    expect(await writes(db())).toEqual(before)
    const ok = await post('/tenants/initech/active', { _csrf: operatorToken, active: 'true' }, { ...as('operator'), origin: `https://${host}` })
    expect(ok.status).toBe(303)
    expect((await post('/tenants/initech/active', { active: 'true' }, { ...as('operator'), origin: `https://${host}` })).status).toBe(403)
  })

  it('CSRF multibyte 500: a token of the right length in characters but not in bytes is a 403, nothing written', async () => {
    const before = await writes(db())
    const bad = `é${operatorToken.slice(1)}`
    expect(bad.length).toBe(operatorToken.length)
    const res = await post('/tenants/globex/active', { _csrf: bad, active: 'false' }, as('operator'))
    expect(res.status).toBe(403)
    expect(await res.text()).toContain('CSRF')
    expect(await writes(db())).toEqual(before)
  })

  it('oversized spend cursor 500: a spend past 2^63 − 1 is a 400 naming the cursor', async () => {
    const month = dayKey(new Date(), TIME_ZONE).slice(0, 7)
    for (const key of ['9999999999999999999', `${month}:9223372036854775808`, `${month}:99999999999999999999`]) {
      const res = await get(`/tenants?cursor=${encodeCursor(key, 'acme')}`, as('operator'))
      expect(res.status, key).toBe(400)
      expect(await res.text()).toContain('cursor')
    }
    expect((await get(`/tenants?cursor=${encodeCursor(`${month}:9223372036854775807`, 'acme')}`, as('operator'))).status).toBe(200)
  })

  it('tenant sees global rate windows: a tenant session is not shown platform-wide windows, an operator is', async () => {
    await new TenantStore(db().client).update('initech', { rateLimits: { requestsPerMinute: 50 } })
    const dashboard = createLlmDashboard(db().client, {
      config: { timeZone: TIME_ZONE, budgets: { rateLimits: { requestsPerMinute: 5000 } } },
      secret: SECRET,
      auth: (request) =>
        request.headers.get('x-test-role') === 'operator'
          ? { role: 'operator', actor: { type: 'user', id: 'op-1' } }
          : { role: 'tenant', tenantId: 'initech', actor: { type: 'tenant_user', id: 'tu-1' } },
    })
    const page = async (headers: Record<string, string>) => (await dashboard(new Request('http://localhost/tenants/initech', { headers }))).text()
    const operator = await page(as('operator'))
    expect(operator).toContain('global · requests per minute')
    expect(operator).toContain('tenant · requests per minute')
    const tenant = await page(as('tenant', 'initech'))
    expect(tenant).not.toContain('global · requests per minute')
    expect(tenant).toContain('tenant · requests per minute')
  })
})
