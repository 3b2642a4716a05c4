/**
 * The operator's overview: where today's and this month's spend goes — cards (cost, executions,
 * success rate, refusals), the 30-day cost chart, top tenants and agents, recent failures — read
 * without a month of ledger rows: the cards, the chart and the top agents from the day rollup
 * (ledger/usage-days.ts: stored days, plus the open days from the ledger's started_at range); top
 * tenants from the month's tenant counters (the budget counters, one row per tenant, on the
 * (period, bucket, scope, …) index); recent failures from the ledger, only within the newest days the
 * rollup says had failures.
 */
import { addDays } from 'date-fns'
import { TZDate } from '@date-fns/tz'
import { placeholder } from '../db/client.js'
import { Decimal, nanosToUsd, toNanos } from '../foundation/money.js'
import { bucketStart, dayKey } from '../foundation/periods.js'
import { bucketRange } from '../ledger/counters/keys.js'
import { toExecutionRecord } from '../ledger/record.js'
import { FAILED_STATUSES, type ExecutionRecord } from '../ledger/types.js'
import { usageDays, type UsageDayRow } from '../ledger/usage-days.js'
import type { DashboardServices } from './context.js'
import { html, jsonIsland, type SafeHtml, count, emptyRow, instant, page, percent, statusBadge, tenantLink, usd, type PageContext } from './html.js'

export interface Figures {
  cost: Decimal
  tokens: bigint
  /** Settled executions (success, error, timeout, cancelled): refused and running rows are not executions. */
  executions: bigint
  successes: bigint
  failures: bigint
  refusals: bigint
  /** successes ÷ executions × 100; null without executions. */
  successRate: number | null
}

interface AgentFigures extends Figures {
  agentType: string
}

export interface OverviewData {
  today: Figures
  month: Figures
  chart: { days: string[]; cost: number[]; executions: number[] }
  topTenants: Array<{ tenantId: string; name: string | null; cost: Decimal; executions: bigint }>
  topAgents: AgentFigures[]
  failures: Array<ExecutionRecord & { tenantName: string | null }>
}

const SETTLED = new Set(['success', 'error', 'timeout', 'cancelled'])
const FAILED = new Set<string>(FAILED_STATUSES)

export function figuresOf(rows: Iterable<Pick<UsageDayRow, 'status' | 'costNanos' | 'tokens' | 'executions'>>): Figures {
  let cost = 0n
  let tokens = 0n
  let executions = 0n
  let successes = 0n
  let failures = 0n
  let refusals = 0n
  for (const r of rows) {
    if (r.status === 'refused') refusals += r.executions
    if (!SETTLED.has(r.status)) continue
    cost += r.costNanos
    tokens += r.tokens
    executions += r.executions
    if (r.status === 'success') successes += r.executions
    if (FAILED.has(r.status)) failures += r.executions
  }
  const successRate = executions === 0n ? null : new Decimal(successes.toString()).times(100).dividedBy(executions.toString()).toDecimalPlaces(2).toNumber()
  return { cost: nanosToUsd(cost), tokens, executions, successes, failures, refusals, successRate }
}

/** Today, the start of the 30-day chart and of the month, in the configured zone. */
export function dayRanges(now: Date, timeZone: string) {
  const today = bucketRange('day', dayKey(now, timeZone), timeZone)
  const chartStart = bucketRange('day', dayKey(addDays(new TZDate(today.from.getTime(), timeZone), -29), timeZone), timeZone).from
  const monthStart = bucketStart('month', now, timeZone)
  return { today, chartStart, monthStart }
}

export async function overviewData(s: DashboardServices): Promise<OverviewData> {
  const { timeZone } = s.config
  const now = s.config.now()
  const { today, chartStart, monthStart } = dayRanges(now, timeZone)
  const from = new Date(Math.min(chartStart.getTime(), monthStart.getTime()))
  const [rows, topTenants] = await Promise.all([usageDays(s.client, s.provider, { from, to: today.to, timeZone }, now), topTenantsOfMonth(s, now)])
  const todayKey = dayKey(now, timeZone)
  const monthKey = todayKey.slice(0, 7)

  const chartDays: string[] = []
  for (let at = new TZDate(chartStart.getTime(), timeZone); at.getTime() < today.to.getTime(); at = addDays(at, 1)) chartDays.push(dayKey(at, timeZone))
  const byDay = new Map<string, UsageDayRow[]>()
  for (const r of rows) byDay.set(r.day, [...(byDay.get(r.day) ?? []), r])
  const chartFigures = chartDays.map((d) => figuresOf(byDay.get(d) ?? []))

  const monthRows = rows.filter((r) => r.day.startsWith(monthKey))
  const agents = new Map<string, UsageDayRow[]>()
  for (const r of monthRows) agents.set(r.agentType, [...(agents.get(r.agentType) ?? []), r])
  const topAgents = [...agents.entries()]
    .map(([agentType, list]) => ({ agentType, ...figuresOf(list) }))
    .filter((a) => a.executions > 0n || a.refusals > 0n)
    .sort((a, b) => b.cost.comparedTo(a.cost) || Number(b.executions - a.executions) || a.agentType.localeCompare(b.agentType))
    .slice(0, 10)

  return {
    today: figuresOf(byDay.get(todayKey) ?? []),
    month: figuresOf(monthRows),
    chart: { days: chartDays, cost: chartFigures.map((f) => f.cost.toNumber()), executions: chartFigures.map((f) => Number(f.executions)) },
    topTenants,
    topAgents,
    failures: await recentFailures(s, rows, 10),
  }
}

async function topTenantsOfMonth(s: DashboardServices, now: Date): Promise<OverviewData['topTenants']> {
  const month = dayKey(now, s.config.timeZone).slice(0, 7)
  const rows = (await s.client.$queryRawUnsafe(
    // The month's ten biggest counters first (the bucket's index range), then their names by the tenants' unique index.
    `SELECT c."tenant_id", CAST(c."spent_cost_nanos" AS TEXT) AS cost, CAST(c."spent_executions" AS TEXT) AS n, t."name"
       FROM (SELECT "tenant_id", "spent_cost_nanos", "spent_executions" FROM "llm_budget_counters"
              WHERE "period" = 'month' AND "bucket" = ${placeholder(s.provider, 1)} AND "scope" = 'tenant' AND "agent_type" = '' AND "spent_executions" > 0
              ORDER BY "spent_cost_nanos" DESC, "tenant_id" LIMIT 10) c
       LEFT JOIN "llm_tenants" t ON t."tenant_id" = c."tenant_id"
      ORDER BY c."spent_cost_nanos" DESC, c."tenant_id"`,
    month,
  )) as Array<{ tenant_id: string; cost: unknown; n: unknown; name: string | null }>
  return rows.map((r) => ({ tenantId: r.tenant_id, name: r.name ?? null, cost: nanosToUsd(toNanos(r.cost)), executions: toNanos(r.n) }))
}

/** The newest failures, read only from the newest days that had any (the rollup knows which). */
async function recentFailures(s: DashboardServices, rows: UsageDayRow[], limit: number): Promise<OverviewData['failures']> {
  const perDay = new Map<string, bigint>()
  for (const r of rows) if (FAILED.has(r.status)) perDay.set(r.day, (perDay.get(r.day) ?? 0n) + r.executions)
  const days = [...perDay.keys()].sort().reverse()
  if (days.length === 0) return []
  let seen = 0n
  let oldest = days[0]
  for (const d of days) {
    oldest = d
    seen += perDay.get(d) ?? 0n
    if (seen >= BigInt(limit)) break
  }
  const from = bucketRange('day', oldest, s.config.timeZone).from
  const to = bucketRange('day', days[0], s.config.timeZone).to
  const found = (await s.client.llmExecution.findMany({
    where: { status: { in: [...FAILED_STATUSES] }, startedAt: { gte: from, lt: to } },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: limit,
  })) as Record<string, unknown>[]
  return withTenantNames(s, found.map(toExecutionRecord))
}

/** Tenant names for rows of several tenants, in one query. */
export async function withTenantNames<T extends { tenantId: string | null }>(
  s: DashboardServices,
  list: T[],
): Promise<Array<T & { tenantName: string | null }>> {
  const ids = [...new Set(list.map((e) => e.tenantId).filter((t): t is string => t !== null))]
  const tenants =
    ids.length === 0
      ? []
      : ((await s.client.llmTenant.findMany({ where: { tenantId: { in: ids } }, select: { tenantId: true, name: true } })) as Array<{
          tenantId: string
          name: string | null
        }>)
  const names = new Map(tenants.map((t) => [t.tenantId, t.name]))
  return list.map((e) => ({ ...e, tenantName: e.tenantId === null ? null : (names.get(e.tenantId) ?? null) }))
}

function cards(label: string, f: Figures, id: string): SafeHtml {
  return html`<div class="section-title">${label}</div>
<div class="cards" id="${id}">
  <div class="card" data-card="cost"><div class="label">Cost</div><div class="value">${usd(f.cost)}</div><div class="sub">${count(f.tokens)} tokens</div></div>
  <div class="card" data-card="executions"><div class="label">Executions</div><div class="value">${count(f.executions)}</div><div class="sub">${count(f.failures)} failed</div></div>
  <div class="card" data-card="success-rate"><div class="label">Success rate</div><div class="value">${percent(f.successRate)}</div><div class="sub">${count(f.successes)} succeeded</div></div>
  <div class="card" data-card="refusals"><div class="label">Refusals</div><div class="value">${count(f.refusals)}</div><div class="sub">refused before the provider</div></div>
</div>`
}

/** A chart container and its data island (the served script draws it with uPlot). */
export function costChart(id: string, title: string, chart: OverviewData['chart']): SafeHtml {
  const total = chart.cost.reduce((a, b) => a + b, 0)
  return html`<section class="panel wide"><h2>${title}</h2>
<div class="chart" id="${id}" role="img" aria-label="${title}: ${chart.days.length} days">${total === 0 ? html`<p class="muted">No spend in these days.</p>` : ''}</div>
${jsonIsland(`${id}-data`, chart, id)}
</section>`
}

export function overviewPage(ctx: PageContext, d: OverviewData): SafeHtml {
  const { base, timeZone } = ctx
  const body = html`
${cards('Today', d.today, 'cards-today')}
${cards('This month', d.month, 'cards-month')}
<div class="grid">${costChart('chart-cost', 'Cost per day, last 30 days', d.chart)}</div>
<div class="grid two">
<section class="panel"><h2>Top tenants <span class="muted">this month</span></h2>
<table id="top-tenants"><thead><tr><th>Tenant</th><th class="num">Cost</th><th class="num">Executions</th></tr></thead><tbody>
${d.topTenants.length === 0 ? emptyRow(3, 'No tenant spent anything this month.') : d.topTenants.map((t) => html`<tr><td>${tenantLink(base, t.tenantId, t.name)}</td><td class="num">${usd(t.cost)}</td><td class="num">${count(t.executions)}</td></tr>`)}
</tbody></table></section>
<section class="panel"><h2>Top agents <span class="muted">this month</span></h2>
<table id="top-agents"><thead><tr><th>Agent</th><th class="num">Cost</th><th class="num">Executions</th><th class="num">Success</th><th class="num">Refused</th></tr></thead><tbody>
${
  d.topAgents.length === 0
    ? emptyRow(5, 'No agent ran this month.')
    : d.topAgents.map(
        (a) =>
          html`<tr><td><a href="${base}/executions?agent=${encodeURIComponent(a.agentType)}&amp;period=this_month">${a.agentType}</a></td><td class="num">${usd(a.cost)}</td><td class="num">${count(a.executions)}</td><td class="num">${percent(a.successRate)}</td><td class="num">${count(a.refusals)}</td></tr>`,
      )
}
</tbody></table></section>
<section class="panel wide"><h2>Recent failures</h2>
<table id="recent-failures"><thead><tr><th>When</th><th>Tenant</th><th>Agent</th><th>Model</th><th>Status</th><th>Error</th></tr></thead><tbody>
${
  d.failures.length === 0
    ? emptyRow(6, 'No failures.')
    : d.failures.map(
        (e) =>
          html`<tr><td><a href="${base}/executions/${encodeURIComponent(e.id)}">${instant(e.startedAt, timeZone)}</a></td><td>${tenantLink(base, e.tenantId, e.tenantName)}</td><td>${e.agentType}</td><td>${e.model}</td><td>${statusBadge(e.status)}</td><td>${e.errorClass ?? ''}${e.errorMessage ? html` <span class="muted">${e.errorMessage.slice(0, 120)}</span>` : ''}</td></tr>`,
      )
}
</tbody></table>
<p class="pager"><a href="${base}/executions?status=error">All errors →</a></p></section>
</div>`
  return page(ctx, 'Overview', body, { current: 'overview' })
}
