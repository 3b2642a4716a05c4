/**
 * Exports of real invoices on both databases: JSON with exact decimal text, CSV per invoice (lines)
 * and per run (one row per invoice) that a spreadsheet reads back cell for cell and never runs as a
 * formula, and a printable HTML document that is self-contained and escapes every value — plan
 * names, adjustment texts, tenant ids and the caller's seller details alike.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { invoiceHtml, invoicesToCsv, invoicesToJson, invoiceToCsv, invoiceToJson, type InvoiceRecord } from '../../src/index.ts'
import { world } from './setup.ts'

/** A minimal RFC 4180 reader (quoted cells, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++
      else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') row.push(cell), (cell = '')
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++
    else cell += c
  }
  return rows
}

const HOSTILE = `<script>alert("x")</script> & "quotes", 'apostrophes'`

describe.each(DATABASES)('invoice exports on %s', (kind) => {
  const db = useDatabase(kind)
  let invoice: InvoiceRecord
  let other: InvoiceRecord

  beforeAll(async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'exp', name: HOSTILE, prices: { baseFee: '12.34', includedTokens: 1000, overagePer1kTokens: '0.0025' } })
    w.at('2026-01-01T00:00:00Z')
    await w.plans.changePlan('exp-<b>acme</b>', 'exp')
    await w.plans.changePlan('exp-plain', 'exp')
    await w.record([{ tenantId: 'exp-<b>acme</b>', at: '2026-01-10T00:00:00Z', tokens: 401_000, cost: '1.5' }])
    w.at('2026-02-01T00:00:00Z')
    const run = await w.billing.generateInvoices({ period: 'last_month', tenants: ['exp-<b>acme</b>', 'exp-plain'] })
    invoice = await w.billing.addAdjustment(run.invoices[0].id, { amount: '-1.00', description: '=HYPERLINK("http://evil.example","click")' })
    other = await w.billing.getInvoice(run.invoices[1].id)
  })

  it('JSON: exact decimal text, ISO instants, every line', () => {
    const json = invoiceToJson(invoice)
    expect(JSON.parse(JSON.stringify(json))).toEqual(json)
    expect(json).toMatchObject({ month: '2026-01', currency: 'USD', subtotal: '13.34', adjustments: '-1.00', total: '12.34', from: '2026-01-01T00:00:00.000Z' })
    expect(json.lines.map((l) => [l.kind, l.quantity, l.unitPrice, l.amount])).toEqual([
      ['base_fee', '2678400', '12.34', '12.34'],
      ['included_usage', '1000', '0', '0.00'],
      ['overage', '400000', '0.0025', '1.00'], // 400,000 × 0.0025 / 1,000 = 1.00
      ['adjustment', '1', '-1', '-1.00'],
    ])
    expect(invoicesToJson([invoice, other]).invoices.map((i) => i.tenantId)).toEqual(['exp-<b>acme</b>', 'exp-plain'])
  })

  it('CSV per invoice and per run: read back cell for cell, formulas defused', () => {
    const lines = parseCsv(invoiceToCsv(invoice))
    expect(lines[0]).toEqual(expect.arrayContaining(['invoice_id', 'kind', 'description', 'quantity', 'unit_price', 'amount']))
    expect(lines).toHaveLength(1 + invoice.lines.length)
    const col = (name: string) => lines[0].indexOf(name)
    expect(lines[1][col('description')]).toBe(invoice.lines[0].description) // commas and quotes survive
    expect(lines[4][col('description')]).toBe(`'=HYPERLINK("http://evil.example","click")`)
    expect(lines[4][col('amount')]).toBe('-1.00') // numbers are not prefixed
    const run = parseCsv(invoicesToCsv([invoice, other]))
    expect(run.map((r) => r.slice(1, 3))).toEqual([
      ['tenant_id', 'month'],
      ['exp-<b>acme</b>', '2026-01'],
      ['exp-plain', '2026-01'],
    ])
    expect(run[1][run[0].indexOf('total')]).toBe('12.34')
    expect(run[1][run[0].indexOf('plan_versions')]).toBe('exp@1')
    const all = parseCsv(invoicesToCsv([invoice, other], { lines: true }))
    expect(all).toHaveLength(1 + invoice.lines.length + other.lines.length)
  })

  it('HTML: self-contained, printable, everything escaped', () => {
    const html = invoiceHtml(invoice, {
      seller: { name: 'Seller <Inc>', address: 'Line 1\n<img src=x onerror=alert(1)>', email: 'billing@seller.example' },
      customer: { address: 'Somewhere "quoted"' },
    })
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(html).toContain('@page')
    expect(html).not.toMatch(/<script|<img|<link|<iframe|url\(|@import/i)
    expect(html).not.toMatch(/<[^>]*\s(src|href|on\w+)=/i) // no element loads or runs anything
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;, &#39;apostrophes&#39;')
    expect(html).toContain('exp-&lt;b&gt;acme&lt;/b&gt;')
    expect(html).toContain('Seller &lt;Inc&gt;')
    expect(html).toContain('Line 1<br>&lt;img src=x onerror=alert(1)&gt;')
    expect(html).toContain('$12.34') // the total, exact
    expect(html).toContain('$0.0025 / 1,000')
    expect(html).toContain('-$1.00')
    expect(html).toMatch(/class="status draft"/)
  })
})
