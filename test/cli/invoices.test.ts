/**
 * `invoices generate` and `invoices show`, run as the built `prisma-llm-tenant` on SQLite and
 * PostgreSQL: a month's invoices written (audited as the CLI user) and exactly what billing computes;
 * running it again writes nothing; a plan without prices is bad input naming the field, before
 * anything is written; progress is one plain line per batch in logs and a bar on a terminal.
 */
import { spawnSync } from 'node:child_process'
import { beforeAll, describe, expect, it } from 'vitest'
import { invoiceToJson } from '../../src/index.ts'
import { world } from '../billing/setup.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { assertBuilt, bin, cliOn, counts, databaseUrl, json, root } from './support.ts'

const TABLES = ['llm_invoices', 'llm_invoice_lines', 'llm_audit_events']

beforeAll(assertBuilt)

describe.each(DATABASES)('prisma-llm-tenant invoices (%s)', (kind) => {
  const db = useDatabase(kind)
  let w: ReturnType<typeof world>

  beforeAll(async () => {
    w = world(db())
    await w.plans.definePlan({ key: 'cli-pro', name: 'Pro', prices: { baseFee: '49.00', includedTokens: 1000, overagePer1kTokens: '0.01' } })
    await w.plans.definePlan({ key: 'cli-free', name: 'Free', limits: { dailyExecutions: 10 } })
    w.at('2026-03-01T00:00:00Z')
    await w.plans.changePlan('acme', 'cli-pro')
    await w.plans.changePlan('globex', 'cli-pro')
    await w.plans.changePlan('initech', 'cli-free')
    await w.record([
      { tenantId: 'acme', at: '2026-04-02T10:00:00Z', tokens: 3000, cost: '0.5' },
      { tenantId: 'acme', at: '2026-04-30T23:59:59Z', tokens: 1, cost: '0' },
      { tenantId: 'globex', at: '2026-04-10T10:00:00Z', tokens: 10, cost: '0.01' },
    ])
  })

  it('a plan without prices: exit 2 naming the plan’s prices, nothing written for any tenant', async () => {
    const before = await counts(db(), TABLES)
    const r = await cliOn(db(), ['invoices', 'generate', '--month', '2026-04'])
    expect(r.status, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toContain('plans.cli-free@1.prices')
    expect(await counts(db(), TABLES)).toEqual(before)
  })

  it('generate: the month’s invoices, audited as the CLI user; again: nothing changes', async () => {
    const r = await cliOn(db(), ['invoices', 'generate', '--month', '2026-04', '--tenant', 'acme', 'globex'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toBe('2026-04: 2/2 tenants invoiced\n')
    expect(r.stdout).toContain('Invoices for 2026-04 (UTC): 2 tenant(s) — 2 created, 0 updated, 0 unchanged.')
    expect(r.stdout).toMatch(/^acme\s+\S+\s+draft\s+1\s+USD\s+49\.02\s+created$/m)
    const events = await db().rawQuery<{ actor_type: string }>(`SELECT actor_type FROM llm_audit_events WHERE action = 'invoice.generated'`)
    expect(events.map((e) => e.actor_type)).toEqual(['cli', 'cli'])

    const before = await counts(db(), TABLES)
    const again = json(await cliOn(db(), ['invoices', 'generate', '--month', '2026-04', '--tenant', 'acme', '--tenant', 'globex', '--json']))
    expect(again).toMatchObject({ month: '2026-04', tenants: 2, created: 0, updated: 0, unchanged: 2 })
    expect(await counts(db(), TABLES)).toEqual(before)
  })

  it('show: by tenant and month or by id, as JSON (billing’s own export), CSV, HTML and a table', async () => {
    const invoice = await w.billing.getInvoice({ tenantId: 'acme', month: '2026-04' })
    const [byMonth, table, csv, html] = await Promise.all([
      cliOn(db(), ['invoices', 'show', '--tenant', 'acme', '--month', '2026-04', '--json']),
      cliOn(db(), ['invoices', 'show', invoice.id]),
      cliOn(db(), ['invoices', 'show', invoice.id, '--format', 'csv']),
      cliOn(db(), ['invoices', 'show', invoice.id, '--format', 'html']),
    ])
    expect(byMonth.status, byMonth.stderr).toBe(0)
    expect(json(byMonth)).toEqual(invoiceToJson(invoice))
    expect(json(byMonth)).toMatchObject({ total: '49.02', usage: { tokens: 3001 } })
    expect(table.stdout).toMatch(/^total:\s+49\.02 USD$/m)
    expect(table.stdout).toMatch(/^\s*1\s+base_fee\s/m)
    expect(csv.stdout.split('\r\n')[0]).toMatch(/^invoice_id,tenant_id,month,status/)
    expect(html.stdout).toMatch(/^<!doctype html>/i)
    const missing = await cliOn(db(), ['invoices', 'show', '--tenant', 'acme', '--month', '2026-02'])
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('No invoice "acme/2026-02"')
  })

  // The terminal is the same on either database: checked once, on SQLite.
  if (kind === 'sqlite')
    it('on a terminal: a progress bar redrawn in place', () => {
      // `script` gives the command a pseudo-terminal (stdout and stderr are both the terminal).
      const command = [process.execPath, bin, 'invoices', 'generate', '--month', '2026-04', '--tenant', 'acme'].map((a) => `'${a}'`).join(' ')
      const r = spawnSync('script', ['-qec', command, '/dev/null'], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl(db()) },
        encoding: 'utf8',
        timeout: 30_000,
      })
      expect(r.status, r.stdout).toBe(0)
      expect(r.stdout).toMatch(/\r2026-04 \[#{30}\] 1\/1 tenants \(100%\)\r?\n/)
      expect(r.stdout).toContain('1 unchanged')
    })
})
