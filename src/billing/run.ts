/**
 * An invoicing run: `generateInvoices({ period, tenants?, finalize? })`. Everything that could make
 * it fail as bad input is checked before the first write — the input, the tenants named, every plan
 * version the month will be priced by (prices present, base fee in whole minor units, cost billing
 * in USD) and one currency per tenant. Then the tenants with a plan in the month are streamed in
 * batches (keyset on tenant id): per batch one read of the assignments, one statement for the
 * ledger usage of every segment, the computation, and one transaction for the writes. Memory holds
 * one batch, whatever the tenant or ledger size.
 */
import type { AuditOptions } from '../audit/actor.js'
import type { LlmConfig } from '../config/config.js'
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { isUniqueViolation } from '../db/unique-violation.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertIdentifier } from '../foundation/validation.js'
import { TenantNotFoundError } from '../tenant/errors.js'
import { computeInvoice, segmentsOf, type ComputedInvoice, type Segment } from './compute.js'
import { monthHasEnded, type InvoiceMonth } from './month.js'
import { assertOneCurrency, loadPriceTerms, type PriceTerms } from './prices.js'
import { assignmentsOf, countTenants, nextTenants, planRefsInMonth, tenantWithMixedCurrencies, usageOfRanges, type UsageRange } from './usage.js'
import { writeBatch, type InvoiceSummary } from './write.js'

/** Progress of a run, after each batch (for a progress bar: `done` of `total` tenants). */
export interface InvoiceRunProgress {
  month: string
  done: number
  total: number
  /** The batch just written. */
  batch: InvoiceSummary[]
}

export interface GenerateInvoicesResult {
  month: string
  from: Date
  to: Date
  timeZone: string
  /** Tenants invoiced (those with a plan in the month, of `tenants` when given). */
  tenants: number
  created: number
  /** Drafts recomputed differently (late usage, a backdated plan change). */
  updated: number
  unchanged: number
  /** Finalized invoices that would compute differently now (never rewritten: adjust, or void + reissue). */
  differs: number
  /** Invoices finalized by this run (`finalize: true`). */
  finalized: number
  /** Tenants named in `tenants` that had no plan in the month (no invoice). */
  skipped: string[]
  invoices: InvoiceSummary[]
}

interface RunContext {
  client: LlmPrismaClient
  provider: SqlProvider
  config: LlmConfig
}

/** Most tenants named in one run (a bigger selection is every tenant: omit `tenants`). */
const MAX_LISTED_TENANTS = 100_000
const CHUNK = 500

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Validates a `tenants` list: unique identifiers, sorted (the order batches are written in). */
export function parseTenantList(value: unknown, field = 'tenants'): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LISTED_TENANTS) {
    throw new InvalidArgumentError(field, `a non-empty array of at most ${MAX_LISTED_TENANTS} tenant ids (omit it for every tenant)`, value)
  }
  return [...new Set(value.map((t, i) => assertIdentifier(t, `${field}[${i}]`)))].sort()
}

/**
 * The checks before a run writes anything: the tenants named exist, and every plan version their
 * month is priced by is loaded and valid, one currency per tenant. Returns the versions' prices.
 */
export async function preflight(ctx: RunContext, month: InvoiceMonth, tenants: readonly string[] | undefined): Promise<Map<string, PriceTerms>> {
  const { client, provider } = ctx
  const groups = tenants === undefined ? [undefined] : chunks(tenants)
  for (const group of tenants === undefined ? [] : chunks(tenants)) {
    const found = (await client.llmTenant.findMany({ where: { tenantId: { in: group } }, select: { tenantId: true } })) as Array<{ tenantId: string }>
    const known = new Set(found.map((f) => f.tenantId))
    const missing = group.find((t) => !known.has(t))
    if (missing !== undefined) throw new TenantNotFoundError(missing)
  }
  const refs = (await Promise.all(groups.map((g) => planRefsInMonth(client, provider, month, g)))).flat()
  const terms = await loadPriceTerms(client, refs)
  for (const group of groups) {
    const mixed = await tenantWithMixedCurrencies(client, provider, month, group)
    if (mixed === null) continue
    const spans = (await assignmentsOf(client, provider, month, [mixed])).get(mixed) ?? []
    assertOneCurrency(
      mixed,
      spans.flatMap((s) => terms.get(s.planId) ?? []),
    )
  }
  return terms
}

/** The invoices of `tenants` for the month, computed (tenants without a plan in the month are left out). */
export async function computeTenants(
  ctx: Pick<RunContext, 'client' | 'provider'>,
  month: InvoiceMonth,
  tenants: readonly string[],
  terms: Map<string, PriceTerms>,
): Promise<Map<string, ComputedInvoice>> {
  const assignments = await assignmentsOf(ctx.client, ctx.provider, month, tenants)
  // A plan change made while the run is under way (the current month's preview) may name a version
  // the preflight did not see: it is loaded and checked now, never billed as "no plan".
  const unseen = [...assignments.values()].flat().filter((a) => !terms.has(a.planId))
  if (unseen.length > 0) for (const [id, t] of await loadPriceTerms(ctx.client, unseen)) terms.set(id, t)
  const segments = new Map<string, Segment[]>()
  const ranges: UsageRange[] = []
  for (const tenantId of tenants) {
    const pieces = segmentsOf(assignments.get(tenantId) ?? [], month, terms)
    if (!pieces.some((p) => p.terms !== null)) continue
    segments.set(tenantId, pieces)
    for (const p of pieces) ranges.push({ tenantId, from: p.from, to: p.to })
  }
  const usages = await usageOfRanges(ctx.client, ctx.provider, ranges)
  const out = new Map<string, ComputedInvoice>()
  let at = 0
  for (const [tenantId, pieces] of segments) {
    out.set(tenantId, computeInvoice(month, pieces, usages.slice(at, at + pieces.length)))
    at += pieces.length
  }
  return out
}

/** Runs the month for `tenants` (or every tenant with a plan in it), batch by batch. */
export async function runInvoices(
  ctx: RunContext,
  month: InvoiceMonth,
  options: { tenants?: string[]; finalize: boolean; batchSize: number; onProgress?: (p: InvoiceRunProgress) => unknown },
  audit?: AuditOptions,
): Promise<GenerateInvoicesResult> {
  const now = ctx.config.now()
  if (options.finalize && !monthHasEnded(month, now)) {
    throw new InvalidArgumentError('finalize', `false for a month that has not ended (${month.month} ends ${month.to.toISOString()})`, true)
  }
  const terms = await preflight(ctx, month, options.tenants)
  const total = options.tenants === undefined ? await countTenants(ctx.client, ctx.provider, month) : options.tenants.length
  const result: GenerateInvoicesResult = {
    month: month.month,
    from: month.from,
    to: month.to,
    timeZone: month.timeZone,
    tenants: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    differs: 0,
    finalized: 0,
    skipped: [],
    invoices: [],
  }
  const listed = options.tenants === undefined ? undefined : chunks(options.tenants, options.batchSize)
  let after: string | null = null
  let done = 0
  for (let i = 0; ; i++) {
    const batch: string[] = listed ? (listed[i] ?? []) : await nextTenants(ctx.client, ctx.provider, month, after, options.batchSize)
    if (batch.length === 0) break
    after = batch[batch.length - 1]
    const computed = await computeTenants(ctx, month, batch, terms)
    if (listed) result.skipped.push(...batch.filter((t) => !computed.has(t)))
    const planned = [...computed].map(([tenantId, c]) => ({ tenantId, computed: c }))
    const write = () =>
      ctx.client.$transaction((tx: LlmPrismaClient) => writeBatch(tx, ctx.provider, month, planned, now, { finalize: options.finalize, audit }), {
        maxWait: 30_000,
        timeout: 300_000,
      }) as Promise<{ summaries: InvoiceSummary[]; finalized: number }>
    // A concurrent run created some of the batch first (unique tenant, month): once more, it finds them.
    const { summaries, finalized } = await write().catch((err: unknown) => (isUniqueViolation(err) ? write() : Promise.reject(err)))
    for (const s of summaries) result[s.outcome] += 1
    result.finalized += finalized
    result.tenants += summaries.length
    result.invoices.push(...summaries)
    done += batch.length
    await options.onProgress?.({ month: month.month, done: Math.min(done, total), total, batch: summaries })
  }
  return result
}
