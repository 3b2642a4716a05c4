/**
 * Reading invoices: one by id (or a tenant's current one for a month), and pages of them — by month,
 * tenant and status, newest month first, then by tenant id — with an opaque keyset cursor, so a
 * listing of 10,000 invoices never skips or repeats one while runs write.
 */
import type { LlmConfig } from '../config/config.js'
import type { LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertIdentifier, assertLimit, assertQuery } from '../foundation/validation.js'
import { InvoiceNotFoundError } from './errors.js'
import { assertMonth, resolveInvoiceMonth, type InvoicePeriodInput } from './month.js'
import { INVOICE_STATUSES, toInvoiceRecord, type InvoiceRecord, type InvoiceStatus } from './record.js'

/** Which invoice: its id, or a tenant's current (non-void) invoice of a month. */
export type InvoiceRef = string | { tenantId: string; month: string }

export interface InvoiceListQuery {
  /** Only this month ('last_month' or { month: 'YYYY-MM' }); omitted = every month. */
  period?: InvoicePeriodInput
  tenantId?: string
  status?: InvoiceStatus
  /** Default 100, at most 1,000. */
  limit?: number
  /** `nextCursor` of the previous page. */
  cursor?: string
}

export interface InvoicePage {
  invoices: InvoiceRecord[]
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null
}

type Row = Record<string, unknown>

async function withLines(db: LlmPrismaClient, rows: Row[]): Promise<InvoiceRecord[]> {
  if (rows.length === 0) return []
  const lines = (await db.llmInvoiceLine.findMany({ where: { invoiceId: { in: rows.map((r) => String(r.id)) } } })) as Row[]
  const byInvoice = new Map<string, Row[]>()
  for (const l of lines) {
    const list = byInvoice.get(String(l.invoiceId)) ?? []
    list.push(l)
    byInvoice.set(String(l.invoiceId), list)
  }
  return rows.map((r) => toInvoiceRecord(r, byInvoice.get(String(r.id)) ?? []))
}

/** An invoice's row (InvoiceNotFoundError when there is none). */
export async function findInvoiceRow(db: LlmPrismaClient, ref: InvoiceRef, field = 'invoice'): Promise<Row> {
  let row: Row | null
  let label: string
  if (typeof ref === 'string') {
    label = assertIdentifier(ref, field, 191)
    row = (await db.llmInvoice.findUnique({ where: { id: ref } })) as Row | null
  } else {
    assertQuery(ref, ['tenantId', 'month'], field)
    const tenantId = assertIdentifier(ref.tenantId, `${field}.tenantId`)
    const month = assertMonth(ref.month, `${field}.month`)
    label = `${tenantId}/${month}`
    row = (await db.llmInvoice.findFirst({ where: { tenantId, period: month, voidSeq: 0 } })) as Row | null
  }
  if (!row) throw new InvoiceNotFoundError(label)
  return row
}

export async function getInvoice(db: LlmPrismaClient, ref: InvoiceRef): Promise<InvoiceRecord> {
  if (typeof ref !== 'string' && (typeof ref !== 'object' || ref === null)) {
    throw new InvalidArgumentError('invoice', "an invoice id, or { tenantId, month: 'YYYY-MM' }", ref)
  }
  const [invoice] = await withLines(db, [await findInvoiceRow(db, ref)])
  return invoice
}

const encodeCursor = (row: Row) => Buffer.from(JSON.stringify([row.period, row.tenantId, Number(row.voidSeq)])).toString('base64url')

function decodeCursor(cursor: unknown): [string, string, number] {
  const allowed = 'the nextCursor of a previous page'
  if (typeof cursor !== 'string' || cursor.length > 4096) throw new InvalidArgumentError('query.cursor', allowed, cursor)
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'string' && Number.isInteger(v[2]))
      return v as [string, string, number]
  } catch {
    // falls through to the error below
  }
  throw new InvalidArgumentError('query.cursor', allowed, cursor)
}

/** A page of invoices, month descending, then tenant id, then the current invoice before its voided ones. */
export async function listInvoices(db: LlmPrismaClient, config: LlmConfig, query: InvoiceListQuery = {}): Promise<InvoicePage> {
  assertQuery(query, ['period', 'tenantId', 'status', 'limit', 'cursor'])
  const where: Row = {}
  if (query.period !== undefined) where.period = resolveInvoiceMonth(query.period, config, 'query.period').month
  if (query.tenantId !== undefined) where.tenantId = assertIdentifier(query.tenantId, 'query.tenantId')
  if (query.status !== undefined) {
    if (!(INVOICE_STATUSES as readonly string[]).includes(query.status))
      throw new InvalidArgumentError('query.status', INVOICE_STATUSES.join(', '), query.status)
    where.status = query.status
  }
  const limit = assertLimit(query.limit ?? 100, 'query.limit', 1000)
  if (query.cursor !== undefined) {
    const [period, tenantId, voidSeq] = decodeCursor(query.cursor)
    where.OR = [{ period: { lt: period } }, { period, tenantId: { gt: tenantId } }, { period, tenantId, voidSeq: { gt: voidSeq } }]
  }
  const rows = (await db.llmInvoice.findMany({
    where,
    orderBy: [{ period: 'desc' }, { tenantId: 'asc' }, { voidSeq: 'asc' }],
    take: limit + 1,
  })) as Row[]
  const page = rows.slice(0, limit)
  return { invoices: await withLines(db, page), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]) : null }
}
