/**
 * Writing a batch of computed invoices in one transaction: a tenant without a current invoice of
 * the month gets one (a reissue after a void takes the next revision and links the voided one); a
 * draft whose recomputation differs is rewritten in place (same id, its adjustment lines kept); a
 * draft or finalized invoice that computes the same is not touched — so running a month again
 * writes nothing. A finalized invoice is never rewritten: a difference is only reported
 * (`outcome: 'differs'`, correct it with an adjustment or a void + reissue). Each change records
 * its audit event in the same transaction.
 */
import { randomUUID } from 'node:crypto'
import type { AuditOptions } from '../audit/actor.js'
import { recordAuditEvents, type AuditEventInput } from '../audit/record.js'
import { Params, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { formatMinor } from '../foundation/currency.js'
import { nanosToUsd, type Decimal } from '../foundation/money.js'
import type { ComputedInvoice, LineData } from './compute.js'
import type { InvoiceMonth } from './month.js'
import { INVOICE_COLUMNS, insertRows, LINE_COLUMNS } from './insert.js'
import { currentInvoicesOf, latestVoidedOf } from './usage.js'
import type { InvoiceStatus } from './record.js'

/** What a run did with one tenant's invoice. */
export type InvoiceOutcome = 'created' | 'updated' | 'unchanged' | 'differs'

/** One tenant's invoice after a run (or a reissue). */
export interface InvoiceSummary {
  id: string
  tenantId: string
  month: string
  status: InvoiceStatus
  revision: number
  currency: string
  subtotal: Decimal
  total: Decimal
  /** created; updated (a draft recomputed differently); unchanged; differs (finalized, and it would compute differently now). */
  outcome: InvoiceOutcome
}

/** A tenant's computed invoice, with what replaces it carries (a reissue). */
export interface PlannedInvoice {
  tenantId: string
  computed: ComputedInvoice
  /** Adjustment lines to carry into a newly created invoice (a reissue keeps the voided one's). */
  carry?: LineData[]
}

/** The `llm_invoice_lines` rows of `lines`, numbered from `first`. */
export function lineRows(
  invoiceId: string,
  lines: readonly (LineData & { id?: string; createdAt?: Date })[],
  first: number,
  createdAt: Date,
): Record<string, unknown>[] {
  return lines.map((l, i) => ({
    id: l.id ?? randomUUID(),
    invoiceId,
    position: first + i,
    kind: l.kind,
    description: l.description,
    planKey: l.planKey,
    planVersion: l.planVersion,
    periodFrom: l.periodFrom,
    periodTo: l.periodTo,
    unit: l.unit,
    quantity: l.quantity,
    unitPriceNanos: l.unitPriceNanos,
    divisor: l.divisor,
    allowance: l.allowance,
    amountNanos: l.amountNanos,
    createdAt: l.createdAt ?? createdAt,
  }))
}

const computedColumns = (c: ComputedInvoice) => ({
  currency: c.currency,
  planVersions: c.planVersions,
  usageTokens: c.usage.tokens,
  usageCostNanos: c.usage.costNanos,
  executions: c.usage.executions,
  subtotalNanos: c.subtotalNanos,
  fingerprint: c.fingerprint,
})

const money = (nanos: bigint, currency: string) => formatMinor(nanos, currency)

/**
 * Writes one batch (its own transaction is `tx`): creates, rewrites changed drafts, finalizes when
 * asked (`finalize`: every draft of the batch, after its recomputation), and records the events.
 */
export async function writeBatch(
  tx: LlmPrismaClient,
  provider: SqlProvider,
  month: InvoiceMonth,
  planned: readonly PlannedInvoice[],
  now: Date,
  options: { finalize: boolean; audit?: AuditOptions },
): Promise<{ summaries: InvoiceSummary[]; finalized: number }> {
  const tenants = planned.map((p) => p.tenantId)
  const current = await currentInvoicesOf(tx, provider, month.month, tenants)
  const voided = await latestVoidedOf(
    tx,
    provider,
    month.month,
    tenants.filter((t) => !current.has(t)),
  )
  const events: AuditEventInput[] = []
  const summaries: InvoiceSummary[] = []
  const newInvoices: Record<string, unknown>[] = []
  const newLines: Record<string, unknown>[] = []
  const toFinalize: string[] = []
  let finalized = 0
  for (const { tenantId, computed, carry = [] } of planned) {
    const existing = current.get(tenantId)
    const subject = { tenantId, targetType: 'invoice', metadata: { month: month.month } }
    if (!existing) {
      const id = randomUUID()
      const previous = voided.get(tenantId)
      const adjustmentsNanos = carry.reduce((s, l) => s + l.amountNanos, 0n)
      const revision = (previous?.revision ?? 0) + 1
      const totalNanos = computed.subtotalNanos + adjustmentsNanos
      newInvoices.push({
        id,
        tenantId,
        period: month.month,
        timeZone: month.timeZone,
        periodFrom: month.from,
        periodTo: month.to,
        revision,
        voidSeq: 0,
        ...computedColumns(computed),
        adjustmentsNanos,
        totalNanos,
        status: 'draft',
        issuedAt: now,
        computedAt: now,
        replaces: previous?.id ?? null,
        createdAt: now,
      })
      newLines.push(...lineRows(id, [...computed.lines, ...carry], 1, now))
      if (previous && previous.replacedBy === null) await tx.llmInvoice.updateMany({ where: { id: previous.id, replacedBy: null }, data: { replacedBy: id } })
      events.push({
        ...subject,
        action: 'invoice.generated',
        targetId: id,
        after: {
          month: month.month,
          revision,
          currency: computed.currency,
          subtotal: money(computed.subtotalNanos, computed.currency),
          total: money(totalNanos, computed.currency),
        },
        metadata: { ...subject.metadata, ...(previous ? { replaces: previous.id } : {}) },
      })
      if (options.finalize) toFinalize.push(id)
      summaries.push(
        summary(id, tenantId, month, options.finalize ? 'finalized' : 'draft', revision, computed.currency, computed.subtotalNanos, totalNanos, 'created'),
      )
      continue
    }
    const same = existing.fingerprint === computed.fingerprint
    if (existing.status !== 'draft' || same) {
      if (existing.status === 'draft' && options.finalize) toFinalize.push(existing.id)
      const status = existing.status === 'draft' && options.finalize ? 'finalized' : existing.status
      const outcome = same ? 'unchanged' : 'differs'
      summaries.push(summary(existing.id, tenantId, month, status, existing.revision, existing.currency, existing.subtotalNanos, existing.totalNanos, outcome))
      continue
    }
    // A draft that computes differently now (late usage, a plan change backdated): rewritten in place.
    const { count } = (await tx.llmInvoice.updateMany({
      where: { id: existing.id, status: 'draft', fingerprint: existing.fingerprint },
      data: { ...computedColumns(computed), computedAt: now },
    })) as { count: number }
    if (count === 0) {
      // Finalized, or rewritten by a concurrent run meanwhile: reported as it is now.
      const latest = (await currentInvoicesOf(tx, provider, month.month, [tenantId])).get(tenantId)
      const outcome = latest?.fingerprint === computed.fingerprint ? 'unchanged' : 'differs'
      if (latest)
        summaries.push(summary(latest.id, tenantId, month, latest.status, latest.revision, latest.currency, latest.subtotalNanos, latest.totalNanos, outcome))
      continue
    }
    const row = (await tx.llmInvoice.findUnique({ where: { id: existing.id }, select: { adjustmentsNanos: true } })) as { adjustmentsNanos: bigint }
    const totalNanos = computed.subtotalNanos + BigInt(row.adjustmentsNanos)
    await tx.llmInvoice.updateMany({ where: { id: existing.id }, data: { totalNanos } })
    const adjustments = (await tx.llmInvoiceLine.findMany({ where: { invoiceId: existing.id, kind: 'adjustment' }, orderBy: { position: 'asc' } })) as Array<
      LineData & { id: string; createdAt: Date }
    >
    await tx.llmInvoiceLine.deleteMany({ where: { invoiceId: existing.id } })
    newLines.push(...lineRows(existing.id, [...computed.lines, ...adjustments], 1, now))
    events.push({
      ...subject,
      action: 'invoice.regenerated',
      targetId: existing.id,
      before: { subtotal: money(existing.subtotalNanos, existing.currency), total: money(existing.totalNanos, existing.currency) },
      after: { subtotal: money(computed.subtotalNanos, computed.currency), total: money(totalNanos, computed.currency) },
    })
    if (options.finalize) toFinalize.push(existing.id)
    const status = options.finalize ? 'finalized' : 'draft'
    summaries.push(summary(existing.id, tenantId, month, status, existing.revision, computed.currency, computed.subtotalNanos, totalNanos, 'updated'))
  }
  await insertRows(tx, provider, 'llm_invoices', INVOICE_COLUMNS, newInvoices)
  await insertRows(tx, provider, 'llm_invoice_lines', LINE_COLUMNS, newLines)
  if (toFinalize.length > 0) {
    const p = new Params(provider)
    const at = p.add(now)
    finalized = await tx.$executeRawUnsafe(
      `UPDATE "llm_invoices" SET "status" = 'finalized', "finalized_at" = ${at} WHERE "status" = 'draft' AND "id" IN (${toFinalize.map((id) => p.add(id)).join(', ')})`,
      ...p.values,
    )
    const byId = new Map(summaries.map((s) => [s.id, s]))
    for (const id of toFinalize) {
      const s = byId.get(id)
      events.push({ action: 'invoice.finalized', tenantId: s?.tenantId ?? null, targetType: 'invoice', targetId: id, metadata: { month: month.month } })
    }
  }
  await recordAuditEvents(tx, provider, events, now, options.audit)
  return { summaries, finalized }
}

function summary(
  id: string,
  tenantId: string,
  month: InvoiceMonth,
  status: InvoiceStatus,
  revision: number,
  currency: string,
  subtotalNanos: bigint,
  totalNanos: bigint,
  outcome: InvoiceOutcome,
): InvoiceSummary {
  return { id, tenantId, month: month.month, status, revision, currency, subtotal: nanosToUsd(subtotalNanos), total: nanosToUsd(totalNanos), outcome }
}
