/**
 * The invoice of one tenant and month, computed from its plan history and its ledger usage — pure
 * and exact (bigint throughout). The rules (docs/billing.md):
 *
 * - **Segments.** The month [from, to) is cut at every assignment boundary: each piece is on one plan
 *   version (or on none). An assignment `at: 'now'` (an upgrade) starts at its instant; one
 *   `at: 'period_end'` (a downgrade, by default) starts at the next month.
 * - **Proration by second.** A version's base fee and its allowances count for the seconds it was in
 *   force over the seconds of the month in the zone (instants truncated to the second).
 * - **Usage** of a segment is the ledger rows whose startedAt falls in it (refused and running rows
 *   never count); the prorated included tokens (and included cost) cover it first, the rest is
 *   overage: per 1,000 tokens, and provider cost × (1 + markup).
 * - **Rounding.** A line's amount = quantity × unit price ÷ divisor, rounded half-up once to the
 *   currency's minor unit; prorated allowances are rounded half-up to a whole token / nano-unit.
 *   Subtotal and total are sums of rounded lines, never rounded again.
 */
import { createHash } from 'node:crypto'
import { roundHalfUp, roundToMinorUnit } from '../foundation/currency.js'
import { Decimal, NANOS_PER_USD } from '../foundation/money.js'
import { secondsBetween, type InvoiceMonth } from './month.js'
import { billsCost, billsTokens, type PriceTerms } from './prices.js'

export const LINE_KINDS = ['base_fee', 'included_usage', 'overage', 'adjustment'] as const
export type InvoiceLineKind = (typeof LINE_KINDS)[number]
export const LINE_UNITS = ['second', 'token', 'cost', 'adjustment'] as const
export type InvoiceLineUnit = (typeof LINE_UNITS)[number]

/** An assignment of the tenant overlapping the month (from llm_tenant_plans), oldest first. */
export interface AssignmentSpan {
  planId: string
  planKey: string
  planVersion: number
  effectiveFrom: Date
  effectiveTo: Date | null
}

/** A piece of the month on one plan version (`terms`), or on none (`null`). */
export interface Segment {
  from: Date
  to: Date
  terms: PriceTerms | null
}

export interface Usage {
  tokens: bigint
  costNanos: bigint
  executions: bigint
}

const NO_USAGE: Usage = Object.freeze({ tokens: 0n, costNanos: 0n, executions: 0n })

/** A computed (or adjustment) line as stored: quantity and allowance as exact decimal text. */
export interface LineData {
  kind: InvoiceLineKind
  description: string
  planKey: string | null
  planVersion: number | null
  periodFrom: Date | null
  periodTo: Date | null
  unit: InvoiceLineUnit
  quantity: string
  unitPriceNanos: bigint
  divisor: bigint
  allowance: string | null
  amountNanos: bigint
}

interface PlanVersionSpan {
  key: string
  version: number
  name: string
  from: string
  to: string
}

export interface ComputedInvoice {
  currency: string
  planVersions: PlanVersionSpan[]
  lines: LineData[]
  subtotalNanos: bigint
  usage: Usage
  /** SHA-256 of everything above: equal fingerprints = the same invoice. */
  fingerprint: string
}

/**
 * Cuts the month at the assignments' boundaries; a later assignment wins from its start. Gaps are
 * `terms: null`. An assignment that ended the instant it began (replaced at once) covers nothing.
 */
export function segmentsOf(assignments: readonly AssignmentSpan[], month: InvoiceMonth, terms: ReadonlyMap<string, PriceTerms>): Segment[] {
  const sorted = assignments
    .filter((a) => a.effectiveTo === null || a.effectiveTo.getTime() > a.effectiveFrom.getTime())
    .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime())
  const pieces: Segment[] = []
  let cursor = month.from.getTime()
  const end = month.to.getTime()
  sorted.forEach((a, i) => {
    const start = Math.max(a.effectiveFrom.getTime(), month.from.getTime())
    const later = sorted.slice(i + 1).find((b) => b.effectiveFrom.getTime() > a.effectiveFrom.getTime())
    const stop = Math.min(a.effectiveTo?.getTime() ?? Number.POSITIVE_INFINITY, later?.effectiveFrom.getTime() ?? Number.POSITIVE_INFINITY, end)
    if (stop <= start || stop <= cursor) return
    const from = Math.max(start, cursor)
    if (from > cursor) pieces.push({ from: new Date(cursor), to: new Date(from), terms: null })
    pieces.push({ from: new Date(from), to: new Date(stop), terms: terms.get(a.planId) ?? null })
    cursor = stop
  })
  if (pieces.length > 0 && cursor < end) pieces.push({ from: new Date(cursor), to: new Date(end), terms: null })
  return pieces
}

const decimalOfNanos = (nanos: bigint) => new Decimal(nanos.toString()).dividedBy(NANOS_PER_USD.toString()).toFixed()
const grouped = (n: bigint) => n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/** The lines of one segment on a plan version. */
function planLines(seg: Segment & { terms: PriceTerms }, usage: Usage, month: InvoiceMonth): LineData[] {
  const t = seg.terms
  const seconds = secondsBetween(seg.from, seg.to)
  const prorated = seconds !== month.seconds
  const label = `${t.name} (${t.key} v${t.version})`
  const base = { planKey: t.key, planVersion: t.version, periodFrom: seg.from, periodTo: seg.to }
  const share = prorated ? `, prorated ${grouped(seconds)} of ${grouped(month.seconds)} s` : ''
  const lines: LineData[] = []
  if (t.baseFeeNanos !== null) {
    lines.push({
      ...base,
      kind: 'base_fee',
      description: `${label}: base fee${share}`,
      unit: 'second',
      quantity: seconds.toString(),
      unitPriceNanos: t.baseFeeNanos,
      divisor: month.seconds,
      allowance: null,
      amountNanos: roundToMinorUnit(seconds * t.baseFeeNanos, month.seconds, t.currency),
    })
  }
  if (billsTokens(t)) {
    const allowance = t.includedTokens === null ? 0n : roundHalfUp(t.includedTokens * seconds, month.seconds)
    const included = usage.tokens < allowance ? usage.tokens : allowance
    const over = usage.tokens - included
    lines.push({
      ...base,
      kind: 'included_usage',
      description: `${label}: included tokens, ${grouped(included)} of ${grouped(allowance)}${share}`,
      unit: 'token',
      quantity: included.toString(),
      unitPriceNanos: 0n,
      divisor: 1000n,
      allowance: allowance.toString(),
      amountNanos: 0n,
    })
    if (over > 0n) {
      const price = t.overagePer1kTokensNanos ?? 0n
      lines.push({
        ...base,
        kind: 'overage',
        description: `${label}: tokens beyond the included, per 1,000`,
        unit: 'token',
        quantity: over.toString(),
        unitPriceNanos: price,
        divisor: 1000n,
        allowance: null,
        amountNanos: roundToMinorUnit(over * price, 1000n, t.currency),
      })
    }
  } else {
    lines.push({
      ...base,
      kind: 'included_usage',
      description: `${label}: tokens (not billed by this plan)`,
      unit: 'token',
      quantity: usage.tokens.toString(),
      unitPriceNanos: 0n,
      divisor: 1000n,
      allowance: null,
      amountNanos: 0n,
    })
  }
  if (billsCost(t)) {
    const allowance = t.includedCostNanos === null ? 0n : roundHalfUp(t.includedCostNanos * seconds, month.seconds)
    const included = usage.costNanos < allowance ? usage.costNanos : allowance
    const over = usage.costNanos - included
    lines.push({
      ...base,
      kind: 'included_usage',
      description: `${label}: included provider cost${share}`,
      unit: 'cost',
      quantity: decimalOfNanos(included),
      unitPriceNanos: 0n,
      divisor: 1n,
      allowance: decimalOfNanos(allowance),
      amountNanos: 0n,
    })
    if (over > 0n) {
      // Per unit of provider cost beyond the included: 1 + markup (ppm → nano-units: × 1,000).
      const unitPrice = NANOS_PER_USD + (t.costMarkupPpm ?? 0n) * 1000n
      lines.push({
        ...base,
        kind: 'overage',
        description: `${label}: provider cost beyond the included${t.costMarkupPpm ? `, +${new Decimal(t.costMarkupPpm.toString()).dividedBy(10_000).toFixed()}%` : ''}`,
        unit: 'cost',
        quantity: decimalOfNanos(over),
        unitPriceNanos: unitPrice,
        divisor: 1n,
        allowance: null,
        amountNanos: roundToMinorUnit(over * unitPrice, NANOS_PER_USD, t.currency),
      })
    }
  }
  return lines
}

/** The invoice of one tenant: `segments` (from segmentsOf, at least one on a plan) with each one's usage. */
export function computeInvoice(month: InvoiceMonth, segments: readonly Segment[], usages: readonly Usage[]): ComputedInvoice {
  const planned = segments.filter((s): s is Segment & { terms: PriceTerms } => s.terms !== null)
  if (planned.length === 0) throw new RangeError('computeInvoice: no segment on a plan')
  const currency = planned[0].terms.currency
  const lines: LineData[] = []
  const total: Usage = { tokens: 0n, costNanos: 0n, executions: 0n }
  segments.forEach((seg, i) => {
    const usage = usages[i] ?? NO_USAGE
    total.tokens += usage.tokens
    total.costNanos += usage.costNanos
    total.executions += usage.executions
    if (seg.terms !== null) lines.push(...planLines(seg as Segment & { terms: PriceTerms }, usage, month))
    else if (usage.tokens > 0n) {
      lines.push({
        kind: 'included_usage',
        description: 'Tokens while on no plan (not billed)',
        planKey: null,
        planVersion: null,
        periodFrom: seg.from,
        periodTo: seg.to,
        unit: 'token',
        quantity: usage.tokens.toString(),
        unitPriceNanos: 0n,
        divisor: 1000n,
        allowance: null,
        amountNanos: 0n,
      })
    }
  })
  const planVersions = planned.map((s) => ({
    key: s.terms.key,
    version: s.terms.version,
    name: s.terms.name,
    from: s.from.toISOString(),
    to: s.to.toISOString(),
  }))
  const subtotalNanos = lines.reduce((sum, l) => sum + l.amountNanos, 0n)
  return { currency, planVersions, lines, subtotalNanos, usage: total, fingerprint: fingerprintOf(currency, planVersions, lines, total) }
}

function fingerprintOf(currency: string, planVersions: PlanVersionSpan[], lines: LineData[], usage: Usage): string {
  const json = JSON.stringify({ currency, planVersions, lines, usage }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  return createHash('sha256').update(json).digest('hex')
}
