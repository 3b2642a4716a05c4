/**
 * What an invoicing run reads: the tenants with a plan in the month (streamed in batches by keyset,
 * so memory does not grow with the tenant count), their assignments overlapping the month, the
 * plan versions a run will price (loaded and checked once, before anything is written), and the
 * ledger usage of every segment of a batch in one statement — each segment one range seek on the
 * ledger's (tenant_id, started_at, cost, tokens, status) index, refused and running rows excluded.
 */
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { toNanos } from '../foundation/money.js'
import { UNCOUNTED_STATUSES_SQL } from '../ledger/types.js'
import type { AssignmentSpan, Usage } from './compute.js'
import type { InvoiceMonth } from './month.js'
import type { PlanRef } from './prices.js'

type Range = Pick<InvoiceMonth, 'from' | 'to'>

/** SQL placeholders from `start` (`$n` on PostgreSQL, `?` on SQLite). */
class Binds {
  readonly values: unknown[] = []
  constructor(private readonly provider: SqlProvider) {}
  add(value: unknown, cast = ''): string {
    this.values.push(value)
    return this.provider === 'postgresql' ? `$${this.values.length}${cast}` : '?'
  }
}

/** `AND tenant_id IN (…)` for an explicit tenant list (or nothing). */
function tenantFilter(b: Binds, tenants: readonly string[] | undefined, column = '"tenant_id"'): string {
  if (tenants === undefined) return ''
  return ` AND ${column} IN (${tenants.map((t) => b.add(t)).join(', ')})`
}

function overlap(b: Binds, month: Range, alias = ''): string {
  return `${alias}"effective_from" < ${b.add(month.to)} AND (${alias}"effective_to" IS NULL OR ${alias}"effective_to" > ${b.add(month.from)})`
}

/** The next `limit` tenant ids after `after` (in order) with an assignment overlapping the month. */
export async function nextTenants(db: LlmPrismaClient, provider: SqlProvider, month: Range, after: string | null, limit: number): Promise<string[]> {
  const b = new Binds(provider)
  const where = `${overlap(b, month)}${after === null ? '' : ` AND "tenant_id" > ${b.add(after)}`}`
  const rows = (await db.$queryRawUnsafe(
    `SELECT DISTINCT "tenant_id" FROM "llm_tenant_plans" WHERE ${where} ORDER BY "tenant_id" LIMIT ${b.add(limit)}`,
    ...b.values,
  )) as Array<{ tenant_id: string }>
  return rows.map((r) => r.tenant_id)
}

/** How many tenants (of `tenants`, or all) have an assignment overlapping the month. */
export async function countTenants(db: LlmPrismaClient, provider: SqlProvider, month: Range, tenants?: readonly string[]): Promise<number> {
  const b = new Binds(provider)
  const rows = (await db.$queryRawUnsafe(
    `SELECT COUNT(DISTINCT "tenant_id") AS n FROM "llm_tenant_plans" WHERE ${overlap(b, month)}${tenantFilter(b, tenants)}`,
    ...b.values,
  )) as Array<{ n: unknown }>
  return Number(toNanos(rows[0]?.n))
}

/** The distinct plan versions assigned within the month (to `tenants`, or to anyone). */
export async function planRefsInMonth(db: LlmPrismaClient, provider: SqlProvider, month: Range, tenants?: readonly string[]): Promise<PlanRef[]> {
  const b = new Binds(provider)
  const rows = (await db.$queryRawUnsafe(
    `SELECT DISTINCT "plan_id", "plan_key", "plan_version" FROM "llm_tenant_plans" WHERE ${overlap(b, month)}${tenantFilter(b, tenants)}`,
    ...b.values,
  )) as Array<{ plan_id: string; plan_key: string; plan_version: unknown }>
  return rows.map((r) => ({ planId: r.plan_id, planKey: r.plan_key, planVersion: Number(r.plan_version) }))
}

/** A tenant (of `tenants`, or any) whose plan versions within the month have more than one currency; null if none. */
export async function tenantWithMixedCurrencies(db: LlmPrismaClient, provider: SqlProvider, month: Range, tenants?: readonly string[]): Promise<string | null> {
  const b = new Binds(provider)
  const rows = (await db.$queryRawUnsafe(
    `SELECT tp."tenant_id" FROM "llm_tenant_plans" tp JOIN "llm_plans" p ON p."id" = tp."plan_id"
      WHERE ${overlap(b, month, 'tp.')}${tenantFilter(b, tenants, 'tp."tenant_id"')}
      GROUP BY tp."tenant_id" HAVING COUNT(DISTINCT p."currency") > 1 ORDER BY tp."tenant_id" LIMIT 1`,
    ...b.values,
  )) as Array<{ tenant_id: string }>
  return rows[0]?.tenant_id ?? null
}

/**
 * The assignments of `tenants` overlapping the month, by tenant, each tenant's oldest first. Raw SQL:
 * Prisma caches a plan per distinct `in` list, so a run's batches would each add one.
 */
export async function assignmentsOf(
  db: LlmPrismaClient,
  provider: SqlProvider,
  month: Range,
  tenants: readonly string[],
): Promise<Map<string, AssignmentSpan[]>> {
  const b = new Binds(provider)
  const rows = (await db.$queryRawUnsafe(
    `SELECT "tenant_id", "plan_id", "plan_key", "plan_version", "effective_from", "effective_to" FROM "llm_tenant_plans"
      WHERE ${overlap(b, month)}${tenantFilter(b, tenants)} ORDER BY "tenant_id", "effective_from", "created_at"`,
    ...b.values,
  )) as Array<{ tenant_id: string; plan_id: string; plan_key: string; plan_version: unknown; effective_from: Date; effective_to: Date | null }>
  const byTenant = new Map<string, AssignmentSpan[]>()
  for (const r of rows) {
    const list = byTenant.get(r.tenant_id) ?? []
    list.push({
      planId: r.plan_id,
      planKey: r.plan_key,
      planVersion: Number(r.plan_version),
      effectiveFrom: new Date(r.effective_from),
      effectiveTo: r.effective_to === null ? null : new Date(r.effective_to),
    })
    byTenant.set(r.tenant_id, list)
  }
  return byTenant
}

/** The current (non-void) invoice of each of `tenants` for the month: what a run compares with. */
export interface CurrentInvoice {
  id: string
  tenantId: string
  status: 'draft' | 'finalized' | 'void'
  fingerprint: string
  revision: number
  currency: string
  subtotalNanos: bigint
  totalNanos: bigint
}

export async function currentInvoicesOf(
  db: LlmPrismaClient,
  provider: SqlProvider,
  month: string,
  tenants: readonly string[],
): Promise<Map<string, CurrentInvoice>> {
  const b = new Binds(provider)
  const cast = provider === 'postgresql' ? '::text' : ''
  const rows = (await db.$queryRawUnsafe(
    `SELECT "id", "tenant_id", "status", "fingerprint", "revision", "currency", "subtotal_nanos"${cast} AS subtotal, "total_nanos"${cast} AS total
       FROM "llm_invoices" WHERE "period" = ${b.add(month)} AND "void_seq" = 0${tenantFilter(b, tenants)}`,
    ...b.values,
  )) as Array<{
    id: string
    tenant_id: string
    status: CurrentInvoice['status']
    fingerprint: string
    revision: unknown
    currency: string
    subtotal: unknown
    total: unknown
  }>
  return new Map(
    rows.map((r) => [
      r.tenant_id,
      {
        id: r.id,
        tenantId: r.tenant_id,
        status: r.status,
        fingerprint: r.fingerprint,
        revision: Number(r.revision),
        currency: r.currency,
        subtotalNanos: toNanos(r.subtotal),
        totalNanos: toNanos(r.total),
      },
    ]),
  )
}

/** The latest voided invoice of each of `tenants` for the month (a new one is its reissue). */
export async function latestVoidedOf(
  db: LlmPrismaClient,
  provider: SqlProvider,
  month: string,
  tenants: readonly string[],
): Promise<Map<string, { id: string; revision: number; replacedBy: string | null }>> {
  const latest = new Map<string, { id: string; revision: number; replacedBy: string | null }>()
  if (tenants.length === 0) return latest
  const b = new Binds(provider)
  const rows = (await db.$queryRawUnsafe(
    `SELECT "id", "tenant_id", "revision", "replaced_by" FROM "llm_invoices"
      WHERE "period" = ${b.add(month)} AND "void_seq" > 0${tenantFilter(b, tenants)} ORDER BY "void_seq" DESC`,
    ...b.values,
  )) as Array<{ id: string; tenant_id: string; revision: unknown; replaced_by: string | null }>
  for (const r of rows) if (!latest.has(r.tenant_id)) latest.set(r.tenant_id, { id: r.id, revision: Number(r.revision), replacedBy: r.replaced_by })
  return latest
}

/** A tenant's instant range whose usage is wanted. */
export interface UsageRange {
  tenantId: string
  from: Date
  to: Date
}

/** Most ranges per statement (4 binds each: well under SQLite's and PostgreSQL's bind limits). */
const RANGES_PER_STATEMENT = 2000

/**
 * The counted usage (rows not refused or running, by startedAt in [from, to)) of every range, in
 * the order given: one grouped statement per 2,000 ranges, joining a VALUES list to the ledger.
 */
export async function usageOfRanges(db: LlmPrismaClient, provider: SqlProvider, ranges: readonly UsageRange[]): Promise<Usage[]> {
  const out: Usage[] = ranges.map(() => ({ tokens: 0n, costNanos: 0n, executions: 0n }))
  for (let start = 0; start < ranges.length; start += RANGES_PER_STATEMENT) {
    const chunk = ranges.slice(start, start + RANGES_PER_STATEMENT)
    const b = new Binds(provider)
    const pg = provider === 'postgresql'
    const values = chunk
      .map(
        (r, i) =>
          `(${b.add(start + i, pg ? '::int' : '')}, ${b.add(r.tenantId, pg ? '::text' : '')}, ${b.add(r.from, pg ? '::timestamp(3)' : '')}, ${b.add(r.to, pg ? '::timestamp(3)' : '')})`,
      )
      .join(', ')
    const cast = pg ? '::text' : ''
    const rows = (await db.$queryRawUnsafe(
      `WITH "seg" ("i", "tenant_id", "f", "t") AS (VALUES ${values})
       SELECT "seg"."i" AS i, SUM(e."total_tokens")${cast} AS tokens, SUM(e."total_cost_nanos")${cast} AS nanos, COUNT(*)${cast} AS n
         FROM "seg" JOIN "llm_executions" e
           ON e."tenant_id" = "seg"."tenant_id" AND e."started_at" >= "seg"."f" AND e."started_at" < "seg"."t"
          AND e."status" NOT IN (${UNCOUNTED_STATUSES_SQL})
        GROUP BY "seg"."i"`,
      ...b.values,
    )) as Array<{ i: unknown; tokens: unknown; nanos: unknown; n: unknown }>
    for (const row of rows) out[Number(toNanos(row.i))] = { tokens: toNanos(row.tokens), costNanos: toNanos(row.nanos), executions: toNanos(row.n) }
  }
  return out
}
