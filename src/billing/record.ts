/**
 * Invoices and their lines as the API returns them (money as `Decimal` in the invoice's currency,
 * counts as numbers, instants as Dates), and the mapping from `llm_invoices` / `llm_invoice_lines`
 * rows. What the exports (JSON, CSV, HTML) render is exactly this.
 */
import { Decimal, nanosToUsd } from '../foundation/money.js'
import type { InvoiceLineKind, InvoiceLineUnit } from './compute.js'

export const INVOICE_STATUSES = ['draft', 'finalized', 'void'] as const
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number]

export interface InvoiceLineRecord {
  id: string
  /** 1-based order on the invoice. */
  position: number
  kind: InvoiceLineKind
  description: string
  planKey: string | null
  planVersion: number | null
  /** The part of the month the line covers (null for adjustments). */
  from: Date | null
  to: Date | null
  /** What `quantity` counts: seconds on the plan (base fee), tokens, provider cost, or 1 adjustment. */
  unit: InvoiceLineUnit
  quantity: Decimal
  /** Per `divisor` units of quantity: the month's base fee, the price per 1,000 tokens, 1 + markup per unit of cost. */
  unitPrice: Decimal
  divisor: number
  /** Included-usage lines: the allowance (prorated) the quantity was taken from; null otherwise. */
  allowance: Decimal | null
  /** quantity × unitPrice ÷ divisor, rounded half-up once to the currency's minor unit. */
  amount: Decimal
  createdAt: Date
}

export interface InvoicePlanVersion {
  key: string
  version: number
  name: string
  from: Date
  to: Date
}

export interface InvoiceRecord {
  id: string
  tenantId: string
  /** 'YYYY-MM' in `timeZone`. */
  month: string
  timeZone: string
  /** The month's half-open instant range. */
  from: Date
  to: Date
  /** 1 for the tenant's first invoice of the month, +1 for each reissue. */
  revision: number
  status: InvoiceStatus
  currency: string
  planVersions: InvoicePlanVersion[]
  /** The month's counted ledger usage: what the usage queries report for the tenant and month. */
  usage: { tokens: number; cost: Decimal; executions: number }
  /** The computed lines' sum. */
  subtotal: Decimal
  /** The adjustment lines' sum (negative = credit). */
  adjustments: Decimal
  total: Decimal
  issuedAt: Date
  computedAt: Date
  finalizedAt: Date | null
  voidedAt: Date | null
  voidReason: string | null
  replacedBy: string | null
  replaces: string | null
  createdAt: Date
  lines: InvoiceLineRecord[]
}

const num = (v: unknown) => Number(v as number | bigint)
const date = (v: unknown) => (v === null || v === undefined ? null : (v as Date))

function toLineRecord(row: Record<string, unknown>): InvoiceLineRecord {
  return {
    id: String(row.id),
    position: num(row.position),
    kind: row.kind as InvoiceLineKind,
    description: String(row.description),
    planKey: (row.planKey as string | null) ?? null,
    planVersion: row.planVersion === null || row.planVersion === undefined ? null : num(row.planVersion),
    from: date(row.periodFrom),
    to: date(row.periodTo),
    unit: row.unit as InvoiceLineUnit,
    quantity: new Decimal(String(row.quantity)),
    unitPrice: nanosToUsd(row.unitPriceNanos as bigint),
    divisor: num(row.divisor),
    allowance: row.allowance === null || row.allowance === undefined ? null : new Decimal(String(row.allowance)),
    amount: nanosToUsd(row.amountNanos as bigint),
    createdAt: row.createdAt as Date,
  }
}

export function toInvoiceRecord(row: Record<string, unknown>, lines: ReadonlyArray<Record<string, unknown>>): InvoiceRecord {
  const spans = (row.planVersions as Array<{ key: string; version: number; name: string; from: string; to: string }> | null) ?? []
  return {
    id: String(row.id),
    tenantId: String(row.tenantId),
    month: String(row.period),
    timeZone: String(row.timeZone),
    from: row.periodFrom as Date,
    to: row.periodTo as Date,
    revision: num(row.revision),
    status: row.status as InvoiceStatus,
    currency: String(row.currency),
    planVersions: spans.map((s) => ({ key: s.key, version: Number(s.version), name: s.name, from: new Date(s.from), to: new Date(s.to) })),
    usage: { tokens: num(row.usageTokens), cost: nanosToUsd(row.usageCostNanos as bigint), executions: num(row.executions) },
    subtotal: nanosToUsd(row.subtotalNanos as bigint),
    adjustments: nanosToUsd(row.adjustmentsNanos as bigint),
    total: nanosToUsd(row.totalNanos as bigint),
    issuedAt: row.issuedAt as Date,
    computedAt: row.computedAt as Date,
    finalizedAt: date(row.finalizedAt),
    voidedAt: date(row.voidedAt),
    voidReason: (row.voidReason as string | null) ?? null,
    replacedBy: (row.replacedBy as string | null) ?? null,
    replaces: (row.replaces as string | null) ?? null,
    createdAt: row.createdAt as Date,
    lines: [...lines].sort((a, b) => num(a.position) - num(b.position)).map(toLineRecord),
  }
}
