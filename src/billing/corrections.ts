/**
 * Changing one invoice, each in its own transaction with its audit event: finalize (a draft of a
 * month that has ended becomes immutable), add an adjustment line (a correction or a credit, on a
 * draft or a finalized invoice — the computed lines never change), and void (optionally reissuing:
 * the month recomputed from the ledger and plan history as they are now, as the next revision, the
 * voided invoice's adjustments carried over unless told otherwise).
 */
import type { AuditOptions } from '../audit/actor.js'
import { recordAuditEvent } from '../audit/record.js'
import type { LlmConfig } from '../config/config.js'
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { formatMinor, parseMinorAmount } from '../foundation/currency.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import type { LineData } from './compute.js'
import { InvoiceStateError } from './errors.js'
import { monthHasEnded, monthRange } from './month.js'
import { findInvoiceRow, getInvoice } from './queries.js'
import type { InvoiceRecord } from './record.js'
import { computeTenants, preflight } from './run.js'
import { insertRows, LINE_COLUMNS } from './insert.js'
import { lineRows, writeBatch } from './write.js'

interface Ctx {
  client: LlmPrismaClient
  provider: SqlProvider
  config: LlmConfig
}

type Row = Record<string, unknown>
const TX = { maxWait: 30_000, timeout: 60_000 }

/** Finalizes a draft whose month has ended; a finalized invoice is returned as it is (no write). */
export async function finalizeInvoice(ctx: Ctx, id: string, audit?: AuditOptions): Promise<InvoiceRecord> {
  const now = ctx.config.now()
  await ctx.client.$transaction(async (tx: LlmPrismaClient) => {
    const row = await findInvoiceRow(tx, id)
    if (row.status === 'finalized') return
    if (row.status === 'void') throw new InvoiceStateError(id, 'void', 'finalize', 'it is void')
    if (!monthHasEnded({ to: row.periodTo as Date }, now)) {
      throw new InvoiceStateError(id, 'draft', 'finalize', `its month ${row.period} has not ended (it ends ${(row.periodTo as Date).toISOString()})`)
    }
    const { count } = (await tx.llmInvoice.updateMany({ where: { id, status: 'draft' }, data: { status: 'finalized', finalizedAt: now } })) as { count: number }
    if (count === 0) return // finalized concurrently
    await recordAuditEvent(
      tx,
      {
        action: 'invoice.finalized',
        tenantId: String(row.tenantId),
        targetType: 'invoice',
        targetId: id,
        before: { status: 'draft' },
        after: { status: 'finalized', total: formatMinor(BigInt(row.totalNanos as bigint), String(row.currency)) },
        metadata: { month: row.period },
      },
      now,
      audit,
    )
  }, TX)
  return getInvoice(ctx.client, id)
}

export interface AdjustmentInput {
  /** In the invoice's currency, at most its minor unit's digits; negative = a credit. Not zero. */
  amount: string | number | { toFixed(dp?: number): string }
  description: string
}

/** Appends an adjustment line (draft or finalized; not void). The total may not go below zero. */
export async function addAdjustment(ctx: Ctx, id: string, input: AdjustmentInput, audit?: AuditOptions): Promise<InvoiceRecord> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidArgumentError('adjustment', 'an object { amount, description }', input)
  for (const key of Object.keys(input)) {
    if (key !== 'amount' && key !== 'description') throw new InvalidArgumentError(`adjustment.${key}`, 'one of the keys: amount, description', key)
  }
  const { description } = input
  if (typeof description !== 'string' || description.trim() === '' || description.length > 500) {
    throw new InvalidArgumentError('adjustment.description', 'a non-empty string of at most 500 characters', description)
  }
  const now = ctx.config.now()
  await ctx.client.$transaction(async (tx: LlmPrismaClient) => {
    const row = await findInvoiceRow(tx, id)
    const currency = String(row.currency)
    const amount = parseMinorAmount(input.amount, currency, 'adjustment.amount', { signed: true, nonZero: true })
    if (row.status === 'void') throw new InvoiceStateError(id, 'void', 'adjust', 'it is void (adjust its reissue)')
    // The increment takes the row's write lock: concurrent adjustments and regenerations queue here.
    const { count } = (await tx.llmInvoice.updateMany({
      where: { id, status: { not: 'void' } },
      data: { adjustmentsNanos: { increment: amount }, totalNanos: { increment: amount } },
    })) as { count: number }
    if (count === 0) throw new InvoiceStateError(id, 'void', 'adjust', 'it was voided meanwhile')
    const after = (await tx.llmInvoice.findUnique({ where: { id }, select: { totalNanos: true } })) as { totalNanos: bigint }
    const total = BigInt(after.totalNanos)
    if (total < 0n) {
      throw new InvalidArgumentError(
        'adjustment.amount',
        `at least -${formatMinor(total - amount, currency)} (the invoice's total may not go below zero)`,
        formatMinor(amount, currency),
      )
    }
    const last = (await tx.llmInvoiceLine.aggregate({ where: { invoiceId: id }, _max: { position: true } })) as { _max: { position: number | null } }
    const line: LineData = {
      kind: 'adjustment',
      description,
      planKey: null,
      planVersion: null,
      periodFrom: null,
      periodTo: null,
      unit: 'adjustment',
      quantity: '1',
      unitPriceNanos: amount,
      divisor: 1n,
      allowance: null,
      amountNanos: amount,
    }
    await insertRows(tx, ctx.provider, 'llm_invoice_lines', LINE_COLUMNS, lineRows(id, [line], Number(last._max.position ?? 0) + 1, now))
    await recordAuditEvent(
      tx,
      {
        action: 'invoice.adjusted',
        tenantId: String(row.tenantId),
        targetType: 'invoice',
        targetId: id,
        before: { total: formatMinor(total - amount, currency) },
        after: { total: formatMinor(total, currency), adjustment: formatMinor(amount, currency), description },
        metadata: { month: row.period, status: row.status },
      },
      now,
      audit,
    )
  }, TX)
  return getInvoice(ctx.client, id)
}

export interface VoidInvoiceOptions {
  /** Recorded on the invoice and in the audit event. */
  reason?: string
  /** Reissue at once: a new draft for the month, recomputed now (default true). */
  reissue?: boolean
  /** Copy the voided invoice's adjustment lines into the reissue (default true). */
  carryAdjustments?: boolean
}

/** Voids an invoice (draft or finalized) and, by default, reissues the month as its next revision. */
export async function voidInvoice(
  ctx: Ctx,
  id: string,
  options: VoidInvoiceOptions,
  audit?: AuditOptions,
): Promise<{ voided: InvoiceRecord; reissued: InvoiceRecord | null }> {
  const { reason = null, reissue = true, carryAdjustments = true } = options
  if (reason !== null && (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500)) {
    throw new InvalidArgumentError('options.reason', 'a non-empty string of at most 500 characters', reason)
  }
  if (typeof reissue !== 'boolean') throw new InvalidArgumentError('options.reissue', 'true or false', reissue)
  if (typeof carryAdjustments !== 'boolean') throw new InvalidArgumentError('options.carryAdjustments', 'true or false', carryAdjustments)
  const row = await findInvoiceRow(ctx.client, id)
  if (row.status === 'void') throw new InvoiceStateError(id, 'void', 'void', 'it is void already')
  const tenantId = String(row.tenantId)
  const month = monthRange(String(row.period), String(row.timeZone))
  // The reissue is computed (and its plan versions checked) before anything is written.
  const computed = reissue ? (await computeTenants(ctx, month, [tenantId], await preflight(ctx, month, [tenantId]))).get(tenantId) : undefined
  const now = ctx.config.now()
  const reissuedId = (await ctx.client.$transaction(async (tx: LlmPrismaClient) => {
    const max = (await tx.llmInvoice.aggregate({ where: { tenantId, period: month.month }, _max: { voidSeq: true } })) as { _max: { voidSeq: number | null } }
    const { count } = (await tx.llmInvoice.updateMany({
      where: { id, status: { not: 'void' } },
      data: { status: 'void', voidedAt: now, voidReason: reason, voidSeq: Number(max._max.voidSeq ?? 0) + 1 },
    })) as { count: number }
    if (count === 0) throw new InvoiceStateError(id, 'void', 'void', 'it was voided meanwhile')
    await recordAuditEvent(
      tx,
      {
        action: 'invoice.voided',
        tenantId,
        targetType: 'invoice',
        targetId: id,
        before: { status: row.status },
        after: { status: 'void', reason },
        metadata: { month: month.month, reissue },
      },
      now,
      audit,
    )
    if (!computed) return null
    const carry = carryAdjustments
      ? ((await tx.llmInvoiceLine.findMany({ where: { invoiceId: id, kind: 'adjustment' }, orderBy: { position: 'asc' } })) as Row[])
      : []
    const { summaries } = await writeBatch(tx, ctx.provider, month, [{ tenantId, computed, carry: carry.map(asLine) }], now, { finalize: false, audit })
    return summaries[0]?.id ?? null
  }, TX)) as string | null
  return { voided: await getInvoice(ctx.client, id), reissued: reissuedId === null ? null : await getInvoice(ctx.client, reissuedId) }
}

/** A stored line as line data (a copy gets a new id and position). */
function asLine(row: Row): LineData {
  return {
    kind: row.kind as LineData['kind'],
    description: String(row.description),
    planKey: (row.planKey as string | null) ?? null,
    planVersion: row.planVersion === null || row.planVersion === undefined ? null : Number(row.planVersion),
    periodFrom: (row.periodFrom as Date | null) ?? null,
    periodTo: (row.periodTo as Date | null) ?? null,
    unit: row.unit as LineData['unit'],
    quantity: String(row.quantity),
    unitPriceNanos: BigInt(row.unitPriceNanos as bigint),
    divisor: BigInt(row.divisor as bigint),
    allowance: (row.allowance as string | null) ?? null,
    amountNanos: BigInt(row.amountNanos as bigint),
  }
}
