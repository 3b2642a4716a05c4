/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) over real HTTP on 127.0.0.1, on SQLite and PostgreSQL. Every page loads with no
 * console error and no failed request (the CSP would report a blocked inline script or style as a
 * console error); screenshots go to test-artifacts/; the overview and the tenant page show the
 * seeded figures (card texts, chart points drawn by uPlot); the XSS set in names, agent types,
 * errors and metadata never runs (`window.__xss` stays unset); an admin form posted without its
 * CSRF token is refused and writes nothing, and with it changes the tenant with an audit event.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { writes } from '../http/server.ts'
import { as, HISTORIC_DAYS, seedDashboard, type Seeded } from './seed.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')

describe.skipIf(!existsSync(CHROMIUM) && process.env.REQUIRE_POSTGRES !== '1').each(DATABASES)('dashboard in Chromium on %s', (kind) => {
  const db = useDatabase(kind)
  let seeded: Seeded
  let browser: Browser
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    seeded = await seedDashboard(db())
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // playwright-core gives every launch a fresh temporary profile of its own (it refuses --user-data-dir).
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await seeded?.close()
  })

  /** A page that records console errors, page errors and failed requests. */
  async function open(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`))
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
    page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`))
    page.on('response', (r) => r.status() >= 400 && problems.push(`status ${r.status()}: ${r.url()}`))
    return { page, problems }
  }

  async function visit(context: BrowserContext, path: string, shot: string): Promise<Page> {
    const { page, problems } = await open(context)
    const res = await page.goto(`${seeded.base}${path}`, { waitUntil: 'load' })
    expect(res?.status(), path).toBe(200)
    await page.waitForLoadState('networkidle')
    await page.screenshot({ path: join(ARTIFACTS, `${kind}-${shot}.png`), fullPage: true })
    expect(problems, path).toEqual([])
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss), `${path}: an injected script ran`).toBeUndefined()
    return page
  }

  const operator = () => browser.newContext({ extraHTTPHeaders: as('operator'), viewport: { width: 1280, height: 900 } })

  it('operator pages load cleanly, show the seeded figures and run no injected script', async () => {
    const context = await operator()
    const overview = await visit(context, '/', 'overview')
    // Today: acme 3 × $0.50 + the error + the agent run's two attempts; globex $0.10 and one refusal.
    expect(await overview.textContent('#cards-today [data-card="refusals"] .value')).toBe('1')
    expect(await overview.textContent('#cards-today [data-card="executions"] .value')).toBe('7')
    expect(await overview.getAttribute('#chart-cost', 'data-points')).toBe('30')
    expect(await overview.locator('#chart-cost canvas').count()).toBeGreaterThan(0)
    const chart = JSON.parse((await overview.textContent('#chart-cost-data')) ?? '{}') as { days: string[]; cost: number[] }
    expect(chart.days).toHaveLength(30)
    expect(chart.cost.filter((c) => c === 1).length).toBeGreaterThanOrEqual(HISTORIC_DAYS - 1) // one $1.00 row per older day (month starts may clip)
    expect(await overview.textContent('#top-tenants')).toContain('Globex')

    const tenant = await visit(context, '/tenants/acme?period=last_30_days', 'tenant-detail')
    const cost = (await tenant.textContent('#tenant-cards [data-card="cost"] .value'))?.trim()
    expect(cost).toMatch(/^\$6\.50/) // 3 × $0.50 today + 5 × $1.00 before, plus the agent run's fraction of a cent
    expect(await tenant.getAttribute('#chart-tenant', 'data-points')).toBe('30')
    expect(await tenant.textContent('#budget')).toContain('tenant')
    expect(await tenant.textContent('#api-keys')).toContain('production')
    expect(await tenant.textContent('#by-agent')).toContain('"><script>')

    await visit(context, '/tenants', 'tenants')
    await visit(context, '/tenants?q=glob&sort=name', 'tenants-search')
    await visit(context, '/executions', 'executions')
    await visit(context, '/executions?status=refused', 'executions-refused')
    const detail = await visit(context, `/executions/${seeded.acmeExecutionId}`, 'execution-detail')
    expect(await detail.textContent('#execution-metadata')).toContain('<img src=x onerror=window.__xss=3>')
    const [fallback] = await db().rawQuery<{ id: string }>(`SELECT id FROM llm_executions WHERE agent_type = 'helpdesk' AND status = 'success'`)
    const attempt = await visit(context, `/executions/${fallback.id}`, 'execution-trace')
    expect(await attempt.locator('#trace tbody tr').count()).toBe(2) // the failed first model and the fallback that answered
    expect(await attempt.textContent('#trace')).toContain('fallback')
    await visit(context, '/tenants/acme/audit', 'audit')
    await context.close()
  }, 90_000)

  it('a tenant session sees its own pages only', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: as('tenant', 'globex'), viewport: { width: 1280, height: 900 } })
    const page = await visit(context, '/', 'tenant-view')
    expect(page.url()).toContain('/tenants/globex')
    expect(await page.locator('#admin').count()).toBe(0)
    await visit(context, '/executions', 'tenant-executions')
    const { page: other } = await open(context)
    expect((await other.goto(`${seeded.base}/tenants/acme`))?.status()).toBe(404)
    expect((await other.goto(`${seeded.base}/executions/${seeded.acmeExecutionId}`))?.status()).toBe(404)
    await context.close()
  }, 60_000)

  it('an admin form without its CSRF token is refused and writes nothing; with it, the change is made', async () => {
    const context = await operator()
    const { page } = await open(context)
    await page.goto(`${seeded.base}/tenants/initech`)
    const before = await writes(db())
    // Runs in the page (DOM types are not in this project's lib).
    await page.evaluate(() =>
      (globalThis as unknown as { document: { querySelector(s: string): { remove(): void } | null } }).document
        .querySelector('#active-form input[name="_csrf"]')
        ?.remove(),
    )
    page.once('dialog', (d) => void d.accept())
    const [refused] = await Promise.all([page.waitForNavigation(), page.click('#active-form button')])
    expect(refused?.status()).toBe(403)
    expect(await writes(db())).toEqual(before)

    await page.goto(`${seeded.base}/tenants/initech`)
    page.once('dialog', (d) => void d.accept())
    await Promise.all([page.waitForNavigation(), page.click('#active-form button')])
    expect(page.url()).toContain('done=deactivated')
    expect(await page.textContent('#tenant-facts')).toContain('inactive')
    const events = await db().rawQuery<{ actor_id: string; action: string }>(
      `SELECT actor_id, action FROM llm_audit_events WHERE tenant_id = 'initech' AND action LIKE 'tenant.%' ORDER BY occurred_at DESC`,
    )
    expect(events[0]).toMatchObject({ actor_id: 'op-1' })
    await page.screenshot({ path: join(ARTIFACTS, `${kind}-admin-done.png`), fullPage: true })
    await context.close()
  }, 60_000)
})
