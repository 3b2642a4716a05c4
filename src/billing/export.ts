/**
 * Invoices as JSON and CSV, per invoice and per run. Money is exact decimal text — amounts with the
 * currency's minor digits ("49.00"), unit prices as precise as they are ("0.002") — never a float.
 * CSV is RFC 4180 (CRLF, quotes doubled); a text cell that a spreadsheet would run as a formula
 * (starting with = + - @ or a tab) is prefixed with an apostrophe, since descriptions carry plan
 * names and adjustment texts that users typed.
 */
import { formatMinor } from '../foundation/currency.js'
import type { Decimal } from '../foundation/money.js'
import type { InvoiceRecord } from './record.js'

/** JSON-safe: what invoiceToJson returns. */
export interface InvoiceJson {
  id: string
  tenantId: string
  month: string
  timeZone: string
  from: string
  to: string
  revision: number
  status: string
  currency: string
  planVersions: Array<{ key: string; version: number; name: string; from: string; to: string }>
  usage: { tokens: number; cost: string; executions: number }
  subtotal: string
  adjustments: string
  total: string
  issuedAt: string
  computedAt: string
  finalizedAt: string | null
  voidedAt: string | null
  voidReason: string | null
  replacedBy: string | null
  replaces: string | null
  lines: Array<{
    position: number
    kind: string
    description: string
    planKey: string | null
    planVersion: number | null
    from: string | null
    to: string | null
    unit: string
    quantity: string
    unitPrice: string
    divisor: number
    allowance: string | null
    amount: string
  }>
}

/** Decimal money → nano-units (exact: a stored amount has at most 9 decimals). */
const nanos = (d: Decimal) => BigInt(d.times(1e9).toFixed(0))
const amount = (d: Decimal, currency: string) => formatMinor(nanos(d), currency)
const iso = (d: Date | null) => (d === null ? null : d.toISOString())

export function invoiceToJson(invoice: InvoiceRecord): InvoiceJson {
  const c = invoice.currency
  return {
    id: invoice.id,
    tenantId: invoice.tenantId,
    month: invoice.month,
    timeZone: invoice.timeZone,
    from: invoice.from.toISOString(),
    to: invoice.to.toISOString(),
    revision: invoice.revision,
    status: invoice.status,
    currency: c,
    planVersions: invoice.planVersions.map((p) => ({ key: p.key, version: p.version, name: p.name, from: p.from.toISOString(), to: p.to.toISOString() })),
    usage: { tokens: invoice.usage.tokens, cost: invoice.usage.cost.toFixed(), executions: invoice.usage.executions },
    subtotal: amount(invoice.subtotal, c),
    adjustments: amount(invoice.adjustments, c),
    total: amount(invoice.total, c),
    issuedAt: invoice.issuedAt.toISOString(),
    computedAt: invoice.computedAt.toISOString(),
    finalizedAt: iso(invoice.finalizedAt),
    voidedAt: iso(invoice.voidedAt),
    voidReason: invoice.voidReason,
    replacedBy: invoice.replacedBy,
    replaces: invoice.replaces,
    lines: invoice.lines.map((l) => ({
      position: l.position,
      kind: l.kind,
      description: l.description,
      planKey: l.planKey,
      planVersion: l.planVersion,
      from: iso(l.from),
      to: iso(l.to),
      unit: l.unit,
      quantity: l.quantity.toFixed(),
      unitPrice: l.unitPrice.toFixed(),
      divisor: l.divisor,
      allowance: l.allowance === null ? null : l.allowance.toFixed(),
      amount: amount(l.amount, c),
    })),
  }
}

/** A run's (or a page's) invoices as one JSON document. */
export function invoicesToJson(invoices: readonly InvoiceRecord[]): { invoices: InvoiceJson[] } {
  return { invoices: invoices.map(invoiceToJson) }
}

/** A cell: numbers as they are; text quoted when needed, formula-like text defused. */
function cell(value: string | number | null, text = true): string {
  if (value === null) return ''
  let s = String(value)
  if (text && /^[=+\-@\t\r]/.test(s)) s = `'${s}`
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

const row = (cells: string[]) => `${cells.join(',')}\r\n`

const INVOICE_COLUMNS = [
  'invoice_id',
  'tenant_id',
  'month',
  'revision',
  'status',
  'currency',
  'plan_versions',
  'usage_tokens',
  'usage_cost',
  'executions',
  'subtotal',
  'adjustments',
  'total',
  'issued_at',
  'finalized_at',
  'voided_at',
]
const LINE_COLUMNS = [
  'invoice_id',
  'tenant_id',
  'month',
  'status',
  'currency',
  'position',
  'kind',
  'description',
  'plan_key',
  'plan_version',
  'from',
  'to',
  'unit',
  'quantity',
  'unit_price',
  'divisor',
  'allowance',
  'amount',
]

function invoiceCells(j: InvoiceJson): string[] {
  const plans = j.planVersions.map((p) => `${p.key}@${p.version}`).join(' ')
  return [
    cell(j.id),
    cell(j.tenantId),
    cell(j.month, false),
    cell(j.revision),
    cell(j.status),
    cell(j.currency),
    cell(plans),
    cell(j.usage.tokens),
    cell(j.usage.cost, false),
    cell(j.usage.executions),
    cell(j.subtotal, false),
    cell(j.adjustments, false),
    cell(j.total, false),
    cell(j.issuedAt, false),
    cell(j.finalizedAt, false),
    cell(j.voidedAt, false),
  ]
}

function lineCells(j: InvoiceJson, l: InvoiceJson['lines'][number]): string[] {
  return [
    cell(j.id),
    cell(j.tenantId),
    cell(j.month, false),
    cell(j.status),
    cell(j.currency),
    cell(l.position),
    cell(l.kind),
    cell(l.description),
    cell(l.planKey),
    cell(l.planVersion),
    cell(l.from, false),
    cell(l.to, false),
    cell(l.unit),
    cell(l.quantity, false),
    cell(l.unitPrice, false),
    cell(l.divisor),
    cell(l.allowance, false),
    cell(l.amount, false),
  ]
}

/**
 * Invoices as CSV: one row per invoice (a run's summary), or with `lines: true` one row per line
 * (each with its invoice's id, tenant, month, status and currency). A header row first.
 */
export function invoicesToCsv(invoices: readonly InvoiceRecord[], options: { lines?: boolean } = {}): string {
  const json = invoices.map(invoiceToJson)
  if (options.lines) return row(LINE_COLUMNS) + json.flatMap((j) => j.lines.map((l) => row(lineCells(j, l)))).join('')
  return row(INVOICE_COLUMNS) + json.map((j) => row(invoiceCells(j))).join('')
}

/** One invoice's lines as CSV. */
export function invoiceToCsv(invoice: InvoiceRecord): string {
  return invoicesToCsv([invoice], { lines: true })
}
