/**
 * The tenants list (operators): search (tenant id or name, case-insensitive), filter by state, sort
 * by id, name or this month's spend (the tenant's month counter, joined on the counters' primary
 * key), keyset pages of 25 — never OFFSET. Each row's plan, budget bars (used / limit of the day and
 * month, coloured by percentage) and tightest rate window come from the library's own status
 * (`budgets.status` / `rateLimitStatus`: the effective limits with their sources).
 */
import type { BudgetStatus, LimitStatus } from '../budget/status.js'
import type { RateWindowStatus } from '../budget/rate-status.js'
import { placeholder } from '../db/client.js'
import { nanosToUsd, toNanos, type Decimal } from '../foundation/money.js'
import { dayKey } from '../foundation/periods.js'
import type { DashboardServices } from './context.js'
import { encodeCursor, type Cursor } from './input.js'
import { html, queryString, type SafeHtml, budgetMeter, count, emptyRow, page, usd, type PageContext } from './html.js'
import { isMoney } from './tenant-data.js'

export const TENANT_SORTS = ['spend', 'id', 'name'] as const
export type TenantSort = (typeof TENANT_SORTS)[number]
export const TENANT_STATES = ['all', 'active', 'inactive'] as const
type TenantState = (typeof TENANT_STATES)[number]
const TENANTS_PAGE = 25

export interface TenantRow {
  tenantId: string
  name: string | null
  active: boolean
  monthCost: Decimal
  /** null: the status could not be read (shown as "unavailable", and reported to onError). */
  status: BudgetStatus | null
  /** null: the rate windows could not be read ("unavailable"); [] = no rate limits apply. */
  windows: RateWindowStatus[] | null
}

export interface TenantsQuery {
  q?: string
  sort: TenantSort
  state: TenantState
  cursor?: Cursor
}

const MAX_BIGINT = 9_223_372_036_854_775_807n
/** A spend cursor: the month it was made in and the spend in nanos (`2024-05:1234`, at most 2^63 − 1). */
const SPEND_KEY = /^(\d{4}-\d{2}):(\d{1,19})$/
/** Cursor keys by sort: the month and its spend in nanos, or the text sorted by. */
export const TENANT_CURSOR_KEY: Record<TenantSort, (key: string) => boolean> = {
  spend: (key) => {
    const m = SPEND_KEY.exec(key)
    return m !== null && BigInt(m[2]) <= MAX_BIGINT
  },
  id: (key) => key.length <= 1024,
  name: (key) => key.length <= 1024,
}
/** At most this many tenants' status reads run at once (each is a few indexed reads). */
const STATUS_READS = 5

/** `fn` over `items` with at most `limit` at once, results in order. */
async function bounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export async function tenantRows(
  s: DashboardServices,
  query: TenantsQuery,
  report: (err: unknown) => void = () => undefined,
): Promise<{ rows: TenantRow[]; next: string | null }> {
  // The spend cursor carries its month: pages keep sorting by that month's counters after midnight
  // of the month's last day. The join's bucket is the first parameter, as it is first in the text
  // (SQLite binds `?` in textual order).
  const cursorMonth = query.sort === 'spend' && query.cursor ? SPEND_KEY.exec(query.cursor.key)?.[1] : undefined
  const month = cursorMonth ?? dayKey(s.config.now(), s.config.timeZone).slice(0, 7)
  const params: unknown[] = [month]
  const p = (value: unknown) => {
    params.push(value)
    return placeholder(s.provider, params.length)
  }
  const spent = `COALESCE(c."spent_cost_nanos", 0)`
  const name = `COALESCE(t."name", '')`
  const where: string[] = []
  if (query.q) {
    const like = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    where.push(`(LOWER(t."tenant_id") LIKE ${p(like)} ESCAPE '\\' OR LOWER(${name}) LIKE ${p(like)} ESCAPE '\\')`)
  }
  if (query.state !== 'all') where.push(`t."active" = ${query.state === 'active' ? 'TRUE' : 'FALSE'}`)
  if (query.cursor) {
    const { key, id } = query.cursor
    if (query.sort === 'id') where.push(`t."tenant_id" > ${p(id)}`)
    else if (query.sort === 'name') where.push(`(${name} > ${p(key)} OR (${name} = ${p(key)} AND t."tenant_id" > ${p(id)}))`)
    else {
      const nanos = BigInt(SPEND_KEY.exec(key)?.[2] ?? '0')
      where.push(`(${spent} < ${p(nanos)} OR (${spent} = ${p(nanos)} AND t."tenant_id" > ${p(id)}))`)
    }
  }
  const order = query.sort === 'id' ? `t."tenant_id"` : query.sort === 'name' ? `${name}, t."tenant_id"` : `${spent} DESC, t."tenant_id"`
  const sql = `SELECT t."tenant_id", t."name", t."active", CAST(${spent} AS TEXT) AS spent
      FROM "llm_tenants" t LEFT JOIN "llm_budget_counters" c
        ON c."scope" = 'tenant' AND c."tenant_id" = t."tenant_id" AND c."agent_type" = '' AND c."period" = 'month' AND c."bucket" = ${placeholder(s.provider, 1)}
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY ${order} LIMIT ${TENANTS_PAGE + 1}`
  const found = (await s.client.$queryRawUnsafe(sql, ...params)) as Array<{ tenant_id: string; name: string | null; active: unknown; spent: unknown }>
  const shown = found.slice(0, TENANTS_PAGE)
  const failed = (err: unknown) => {
    report(err)
    return null
  }
  const rows = await bounded(shown, STATUS_READS, async (r): Promise<TenantRow> => {
    const [status, windows] = await Promise.all([s.budgets.status(r.tenant_id).catch(failed), s.budgets.rateLimitStatus(r.tenant_id).catch(failed)])
    return {
      tenantId: r.tenant_id,
      name: r.name ?? null,
      active: r.active === true || r.active === 1 || r.active === 1n,
      monthCost: nanosToUsd(toNanos(r.spent)),
      status,
      windows,
    }
  })
  const last = shown[shown.length - 1]
  const next =
    found.length > TENANTS_PAGE && last
      ? encodeCursor(query.sort === 'spend' ? `${month}:${toNanos(last.spent)}` : query.sort === 'name' ? (last.name ?? '') : last.tenant_id, last.tenant_id)
      : null
  return { rows, next }
}

/** A limit's used / limit as text (money or a count). */
export function limitMeter(label: string, l: LimitStatus | undefined): SafeHtml {
  if (!l) return html`<span class="muted">—</span>`
  const show = (v: unknown) => (isMoney(v) ? usd(v) : count(v as number))
  return budgetMeter(label, show(l.used), l.limit === null ? null : show(l.limit), l.percentage)
}

/** The window with the least room left, as "12 / 60 requests per minute left". */
function tightestWindow(windows: RateWindowStatus[] | null): SafeHtml {
  if (windows === null) return unavailable
  if (windows.length === 0) return html`<span class="muted">no rate limits</span>`
  const w = [...windows].sort((a, b) => a.remaining / Math.max(1, a.limit) - b.remaining / Math.max(1, b.limit))[0]
  const share = (w.remaining / Math.max(1, w.limit)) * 100
  const kind = share <= 10 ? 'bad' : share <= 25 ? 'warn' : 'ok'
  return html`<span class="badge ${kind}" title="${windows.length} window(s); the tightest shown">${count(w.remaining)} / ${count(w.limit)} ${w.measure} per ${w.window} left</span>`
}

const unavailable = html`<span class="badge warn" title="could not be read; see the server log">unavailable</span>`

const SORT_LABELS: Record<(typeof TENANT_SORTS)[number], string> = { spend: 'Spend this month', id: 'Tenant id', name: 'Name' }

export function tenantsPage(ctx: PageContext, query: TenantsQuery, result: { rows: TenantRow[]; next: string | null }): SafeHtml {
  const { base } = ctx
  const keep = { q: query.q, sort: query.sort === 'spend' ? undefined : query.sort, state: query.state === 'all' ? undefined : query.state }
  const body = html`
<form class="filters" method="get" action="${base}/tenants" role="search">
  <label>Search<input type="search" name="q" value="${query.q ?? ''}" placeholder="id or name" maxlength="200"></label>
  <label>State<select name="state" data-autosubmit>${TENANT_STATES.map((s) => html`<option value="${s}"${s === query.state ? html` selected` : ''}>${s}</option>`)}</select></label>
  <label>Sort<select name="sort" data-autosubmit>${TENANT_SORTS.map((s) => html`<option value="${s}"${s === query.sort ? html` selected` : ''}>${SORT_LABELS[s]}</option>`)}</select></label>
  <button type="submit">Apply</button>
</form>
<section class="panel">
<table id="tenants"><thead><tr><th>Tenant</th><th>Plan</th><th>State</th><th>Today</th><th>This month</th><th>Rate limits</th><th class="num">Spend (month)</th></tr></thead><tbody>
${
  result.rows.length === 0
    ? emptyRow(7, query.q ? 'No tenant matches.' : 'No tenants yet.')
    : result.rows.map(
        (t) => html`<tr data-tenant="${t.tenantId}">
<td><a href="${base}/tenants/${encodeURIComponent(t.tenantId)}">${t.name ?? t.tenantId}</a>${t.name ? html`<div class="muted">${t.tenantId}</div>` : ''}</td>
<td>${t.status === null ? unavailable : t.status.plan ? html`${t.status.plan.name} <span class="muted">v${t.status.plan.version}</span>` : html`<span class="muted">none</span>`}</td>
<td>${t.active ? html`<span class="badge ok">active</span>` : html`<span class="badge bad">inactive</span>`} <span class="muted">${t.status?.enforcement ?? ''}</span></td>
<td>${t.status === null ? unavailable : limitMeter('Daily cost', t.status.limits.dailyCost)}</td>
<td>${t.status === null ? unavailable : limitMeter('Monthly cost', t.status.limits.monthlyCost)}</td>
<td>${tightestWindow(t.windows)}</td>
<td class="num">${usd(t.monthCost)}</td>
</tr>`,
      )
}
</tbody></table>
<div class="pager">${result.next ? html`<a id="next-page" href="${base}/tenants${queryString({ ...keep, cursor: result.next })}">Next →</a>` : ''}${
    query.cursor ? html` <a href="${base}/tenants${queryString(keep)}">First page</a>` : ''
  }</div>
</section>`
  return page(ctx, 'Tenants', body, { current: 'tenants' })
}
