/**
 * A printable invoice: one self-contained HTML document (inline styles, no scripts, no external
 * resources, print-friendly page size), safe to serve as is — every value from the database or the
 * options (tenant ids, plan names, adjustment texts, seller details) is HTML-escaped. Amounts are
 * the stored exact amounts, formatted as decimal strings (Intl formats a decimal string exactly).
 */
import { currencyDigits } from '../foundation/currency.js'
import type { InvoiceLineRecord, InvoiceRecord } from './record.js'

export interface InvoiceHtmlOptions {
  /** Who issues the invoice: shown at the top. */
  seller?: { name: string; address?: string; email?: string }
  /** Who is billed (default: the tenant id). */
  customer?: { name?: string; address?: string }
  /** BCP 47 locale for numbers and dates (default 'en-US'). */
  locale?: string
  /** The document title (default "Invoice <month> — <customer>"). */
  title?: string
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** HTML-escapes text (element content and attribute values alike). */
function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c])
}

/** Multi-line text (an address) as escaped lines. */
const lines = (text: string | undefined) => (text ? escapeHtml(text).split(/\r?\n/).join('<br>') : '')

const STYLE = `
  @page { size: A4; margin: 18mm; }
  * { box-sizing: border-box; }
  body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 0; padding: 24px; }
  header { display: flex; justify-content: space-between; gap: 24px; margin-bottom: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .muted { color: #555; }
  .status { display: inline-block; padding: 2px 8px; border: 1px solid #999; border-radius: 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
  .status.void { border-color: #b00; color: #b00; }
  .status.draft { border-color: #a60; color: #a60; }
  table { width: 100%; border-collapse: collapse; margin-top: 8px; }
  th, td { padding: 6px 8px; border-bottom: 1px solid #ddd; vertical-align: top; text-align: left; }
  th { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #555; }
  td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  tfoot td { border-bottom: none; font-weight: 600; }
  tfoot tr.total td { font-size: 15px; border-top: 2px solid #111; }
  footer { margin-top: 24px; font-size: 11px; color: #555; }
  @media print { body { padding: 0; } .noprint { display: none; } }
`

export function invoiceHtml(invoice: InvoiceRecord, options: InvoiceHtmlOptions = {}): string {
  const locale = options.locale ?? 'en-US'
  const digits = currencyDigits(invoice.currency)
  const money = new Intl.NumberFormat(locale, { style: 'currency', currency: invoice.currency, minimumFractionDigits: digits, maximumFractionDigits: digits })
  const price = new Intl.NumberFormat(locale, { style: 'currency', currency: invoice.currency, minimumFractionDigits: digits, maximumFractionDigits: 9 })
  const count = new Intl.NumberFormat(locale, { maximumFractionDigits: 9 })
  const day = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: invoice.timeZone })
  const moment = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: invoice.timeZone })
  // Intl formats a decimal string exactly (no float in between).
  const fmt = (f: Intl.NumberFormat, d: { toFixed(): string }) => escapeHtml(f.format(d.toFixed() as unknown as number))
  const customer = options.customer?.name ?? invoice.tenantId
  const title = options.title ?? `Invoice ${invoice.month} — ${customer}`
  const lastDay = new Date(invoice.to.getTime() - 1)
  const quantity = (l: InvoiceLineRecord) =>
    l.unit === 'cost'
      ? fmt(price, l.quantity)
      : l.unit === 'second'
        ? `${fmt(count, l.quantity)} s`
        : l.unit === 'token'
          ? `${fmt(count, l.quantity)} tokens`
          : '1'
  const unitPrice = (l: InvoiceLineRecord) =>
    l.kind === 'included_usage'
      ? 'included'
      : l.unit === 'second'
        ? `${fmt(price, l.unitPrice)} / month`
        : l.unit === 'token'
          ? `${fmt(price, l.unitPrice)} / 1,000`
          : l.unit === 'cost'
            ? `× ${escapeHtml(l.unitPrice.toFixed())}`
            : fmt(price, l.unitPrice)
  const period = (l: InvoiceLineRecord) =>
    l.from && l.to ? `<div class="muted">${escapeHtml(moment.format(l.from))} – ${escapeHtml(moment.format(l.to))}</div>` : ''
  const rows = invoice.lines
    .map(
      (l) => `<tr>
        <td>${escapeHtml(l.description)}${period(l)}</td>
        <td class="num">${quantity(l)}</td>
        <td class="num">${unitPrice(l)}</td>
        <td class="num">${fmt(money, l.amount)}</td>
      </tr>`,
    )
    .join('\n')
  const seller = options.seller
    ? `<div><strong>${escapeHtml(options.seller.name)}</strong><br>${lines(options.seller.address)}${options.seller.email ? `<br>${escapeHtml(options.seller.email)}` : ''}</div>`
    : ''
  const voidNote =
    invoice.status === 'void'
      ? `<p class="muted">Void${invoice.voidReason ? `: ${escapeHtml(invoice.voidReason)}` : ''}${invoice.replacedBy ? ` — replaced by ${escapeHtml(invoice.replacedBy)}` : ''}.</p>`
      : ''
  return `<!doctype html>
<html lang="${escapeHtml(locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <div>
    <h1>Invoice</h1>
    <div class="muted">${escapeHtml(invoice.id)} · revision ${escapeHtml(invoice.revision)}</div>
    <div><span class="status ${escapeHtml(invoice.status)}">${escapeHtml(invoice.status)}</span></div>
  </div>
  ${seller}
</header>
<section>
  <div><strong>Billed to:</strong> ${escapeHtml(customer)}${options.customer?.address ? `<br>${lines(options.customer.address)}` : ''}</div>
  <div><strong>Period:</strong> ${escapeHtml(day.format(invoice.from))} – ${escapeHtml(day.format(lastDay))} (${escapeHtml(invoice.timeZone)})</div>
  <div><strong>Issued:</strong> ${escapeHtml(moment.format(invoice.finalizedAt ?? invoice.issuedAt))}</div>
  ${voidNote}
</section>
<table>
  <thead><tr><th>Description</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
  <tbody>
${rows}
  </tbody>
  <tfoot>
    <tr><td colspan="3" class="num">Subtotal</td><td class="num">${fmt(money, invoice.subtotal)}</td></tr>
    <tr><td colspan="3" class="num">Adjustments</td><td class="num">${fmt(money, invoice.adjustments)}</td></tr>
    <tr class="total"><td colspan="3" class="num">Total (${escapeHtml(invoice.currency)})</td><td class="num">${fmt(money, invoice.total)}</td></tr>
  </tfoot>
</table>
<footer>Usage in the period: ${escapeHtml(count.format(invoice.usage.tokens))} tokens over ${escapeHtml(count.format(invoice.usage.executions))} calls. Each line's amount is rounded half-up once to the currency's minor unit; prorated by the second in ${escapeHtml(invoice.timeZone)}.</footer>
</body>
</html>
`
}
