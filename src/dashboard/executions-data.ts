/**
 * Executions: filtered keyset pages (newest first on (startedAt, id); 50 a page, never OFFSET) and
 * one execution with its trace. A tenant filter reads the tenant's index range, a key filter the
 * key's; across tenants the started_at range is read newest first and, for an agent / model /
 * status filter (with a period or for all time), narrowed by the day rollup to the days that have
 * matching rows: only those days are read, newest first, until the page is full (a filter nothing
 * matches reads no ledger rows at all).
 */
import { dayKey } from '../foundation/periods.js'
import { bucketRange } from '../ledger/counters/keys.js'
import { toExecutionRecord } from '../ledger/record.js'
import type { ExecutionRecord, ExecutionStatus } from '../ledger/types.js'
import { usageDays } from '../ledger/usage-days.js'
import type { DashboardServices } from './context.js'
import { encodeCursor, type Cursor } from './input.js'
import { withTenantNames } from './overview.js'

const EXECUTIONS_PAGE = 50

export interface ExecutionFilters {
  tenantId?: string
  agentType?: string
  model?: string
  status?: ExecutionStatus
  apiKeyId?: string
  /** The period's instant range; undefined = all time. */
  range?: { from: Date; to: Date }
  cursor?: Cursor
}

export type ListedExecution = ExecutionRecord & { tenantName: string | null }

/**
 * The days holding rows that match the agent / model / status filters, newest first, merged into
 * runs of consecutive days (instant ranges within `range`); all time when `range` is undefined (from
 * the oldest to the newest row: two index lookups). Empty = nothing matches.
 */
async function matchingSpans(s: DashboardServices, f: ExecutionFilters, range: { from: Date; to: Date } | undefined): Promise<Array<{ from: Date; to: Date }>> {
  let within = range
  if (within === undefined) {
    const [oldest, newest] = (await Promise.all([
      s.client.llmExecution.findFirst({ orderBy: { startedAt: 'asc' }, select: { startedAt: true } }),
      s.client.llmExecution.findFirst({ orderBy: { startedAt: 'desc' }, select: { startedAt: true } }),
    ])) as Array<{ startedAt: Date } | null>
    if (!oldest || !newest) return []
    // From the start of the oldest row's day: a whole day, which the rollup stores (a clipped one it reads live).
    within = { from: bucketRange('day', dayKey(oldest.startedAt, s.config.timeZone), s.config.timeZone).from, to: new Date(newest.startedAt.getTime() + 1) }
  }
  const zone = s.config.timeZone
  const rows = await usageDays(s.client, s.provider, { ...within, timeZone: zone }, s.config.now())
  const days = [
    ...new Set(
      rows
        .filter((r) => (f.agentType === undefined || r.agentType === f.agentType) && (f.model === undefined || r.model === f.model))
        .filter((r) => (f.status === undefined || r.status === f.status) && r.executions > 0n)
        .map((r) => r.day),
    ),
  ].sort()
  const spans: Array<{ from: Date; to: Date }> = []
  for (const day of days.reverse()) {
    const { from, to } = bucketRange('day', day, zone)
    const last = spans[spans.length - 1]
    if (last && last.from.getTime() === to.getTime()) last.from = from
    else spans.push({ from, to })
  }
  const clip = within
  return spans.map((r) => ({ from: new Date(Math.max(r.from.getTime(), clip.from.getTime())), to: new Date(Math.min(r.to.getTime(), clip.to.getTime())) }))
}

type Where = Array<Record<string, unknown>>

async function readPage(s: DashboardServices, and: Where, take: number): Promise<Record<string, unknown>[]> {
  return (await s.client.llmExecution.findMany({ where: { AND: and }, orderBy: [{ startedAt: 'desc' }, { id: 'desc' }], take })) as Record<string, unknown>[]
}

export async function executionsPage(s: DashboardServices, f: ExecutionFilters): Promise<{ rows: ListedExecution[]; next: string | null }> {
  const narrowable = f.tenantId === undefined && f.apiKeyId === undefined && (f.agentType !== undefined || f.model !== undefined || f.status !== undefined)
  const and: Where = []
  if (f.tenantId !== undefined) and.push({ tenantId: f.tenantId })
  if (f.agentType !== undefined) and.push({ agentType: f.agentType })
  if (f.model !== undefined) and.push({ model: f.model })
  if (f.status !== undefined) and.push({ status: f.status })
  if (f.apiKeyId !== undefined) and.push({ apiKeyId: f.apiKeyId })
  const at = f.cursor ? new Date(Number(f.cursor.key)) : null
  if (f.cursor && at) and.push({ OR: [{ startedAt: { lt: at } }, { startedAt: at, id: { lt: f.cursor.id } }] })
  let found: Record<string, unknown>[]
  if (narrowable) {
    // Across tenants: only the days the rollup says hold matching rows are read, newest run of days
    // first, until the page is full — never the days in between.
    found = []
    for (const span of await matchingSpans(s, f, f.range)) {
      if (at && span.from.getTime() > at.getTime()) continue // wholly after the cursor
      found.push(...(await readPage(s, [...and, { startedAt: { gte: span.from, lt: span.to } }], EXECUTIONS_PAGE + 1 - found.length)))
      if (found.length > EXECUTIONS_PAGE) break
    }
  } else {
    found = await readPage(s, f.range ? [...and, { startedAt: { gte: f.range.from, lt: f.range.to } }] : and, EXECUTIONS_PAGE + 1)
  }
  const shown = found.slice(0, EXECUTIONS_PAGE).map(toExecutionRecord)
  const last = shown[shown.length - 1]
  return {
    rows: await withTenantNames(s, shown),
    next: found.length > EXECUTIONS_PAGE && last ? encodeCursor(last.startedAt.getTime(), last.id) : null,
  }
}

/** The first 100 rows of a trace always include the execution shown (in its place by (startedAt, id)). */
function withCurrent(trace: ExecutionRecord[], current: ExecutionRecord): ExecutionRecord[] {
  if (trace.length === 0 || trace.some((e) => e.id === current.id)) return trace
  const key = (e: ExecutionRecord) => [e.startedAt.getTime(), e.id] as const
  return [...trace, current].sort((a, b) => key(a)[0] - key(b)[0] || (key(a)[1] < key(b)[1] ? -1 : key(a)[1] > key(b)[1] ? 1 : 0))
}

export interface ExecutionDetail {
  execution: ListedExecution
  parent: ExecutionRecord | null
  /** Every row of the same trace (attempts, fallbacks, steps), oldest first. */
  trace: ExecutionRecord[]
}

/** One execution, or null — also when a tenant session asks for another tenant's (never revealed). */
export async function executionDetail(s: DashboardServices, id: string, onlyTenant: string | null): Promise<ExecutionDetail | null> {
  const row = (await s.client.llmExecution.findUnique({ where: { id } })) as Record<string, unknown> | null
  if (!row) return null
  const execution = toExecutionRecord(row)
  if (onlyTenant !== null && execution.tenantId !== onlyTenant) return null
  const mine = (e: ExecutionRecord) => onlyTenant === null || e.tenantId === onlyTenant
  const [parentRow, traceRows] = await Promise.all([
    execution.parentId ? s.client.llmExecution.findUnique({ where: { id: execution.parentId } }) : Promise.resolve(null),
    execution.traceId
      ? s.client.llmExecution.findMany({ where: { traceId: execution.traceId }, orderBy: [{ startedAt: 'asc' }, { id: 'asc' }], take: 100 })
      : Promise.resolve([]),
  ])
  const parent = parentRow ? toExecutionRecord(parentRow as Record<string, unknown>) : null
  const [withName] = await withTenantNames(s, [execution])
  return {
    execution: withName,
    parent: parent && mine(parent) ? parent : null,
    trace: withCurrent((traceRows as Record<string, unknown>[]).map(toExecutionRecord), execution).filter(mine),
  }
}
