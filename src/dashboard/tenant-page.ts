/**
 * One tenant's page (operators, and the tenant's own session): usage cards and chart, breakdowns,
 * budget and rate-limit status with sources, plan and history, keys, audit trail, recent and
 * failed executions; for operators, the admin forms (admin-forms.ts).
 */
import type { AuditEventRecord } from '../audit/log.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import type { ExecutionRecord } from '../ledger/types.js'
import { adminForms, revokeForm } from './admin.js'
import { html, queryString, type SafeHtml, count, emptyRow, instant, page, percent, statusBadge, usd, type PageContext } from './html.js'
import { DASHBOARD_PERIODS, type DashboardPeriod } from './input.js'
import { costChart } from './overview.js'
import type { Breakdown, TenantDetail } from './tenant-data.js'
import { limitMeter } from './tenants.js'

const NOTICES: Record<string, string> = {
  limits: 'Limits and enforcement saved.',
  plan: 'Plan changed.',
  activated: 'Tenant activated.',
  deactivated: 'Tenant deactivated.',
  revoked: 'API key revoked.',
}
export const NOTICE_KEYS = Object.keys(NOTICES)

function breakdownTable(
  id: string,
  title: string,
  rows: Array<Breakdown & { name?: string | null }>,
  label: (b: Breakdown & { name?: string | null }) => SafeHtml | string,
): SafeHtml {
  return html`<section class="panel"><h2>${title}</h2><table id="${id}"><thead><tr><th>${title.replace('By ', '')}</th><th class="num">Cost</th><th class="num">Executions</th><th class="num">Success</th><th class="num">Refused</th></tr></thead><tbody>
${rows.length === 0 ? emptyRow(5, 'Nothing in this period.') : rows.map((b) => html`<tr><td>${label(b)}</td><td class="num">${usd(b.cost)}</td><td class="num">${count(b.executions)}</td><td class="num">${percent(b.successRate)}</td><td class="num">${count(b.refusals)}</td></tr>`)}
</tbody></table></section>`
}

export function executionsTable(
  ctx: PageContext,
  id: string,
  rows: Array<ExecutionRecord & { tenantName?: string | null }>,
  empty: string,
  withTenant = false,
): SafeHtml {
  const { base, timeZone } = ctx
  return html`<table id="${id}"><thead><tr><th>Started</th>${withTenant ? html`<th>Tenant</th>` : ''}<th>Agent</th><th>Model</th><th>Status</th><th class="num">Tokens</th><th class="num">Cost</th><th class="num">Duration</th></tr></thead><tbody>
${
  rows.length === 0
    ? emptyRow(withTenant ? 8 : 7, empty)
    : rows.map(
        (e) =>
          html`<tr data-execution="${e.id}"><td><a href="${base}/executions/${encodeURIComponent(e.id)}">${instant(e.startedAt, timeZone)}</a></td>${
            withTenant
              ? html`<td>${e.tenantId === null ? html`<span class="muted">no tenant</span>` : html`<a href="${base}/tenants/${encodeURIComponent(e.tenantId)}">${e.tenantName ?? e.tenantId}</a>`}</td>`
              : ''
          }<td>${e.agentType}</td><td>${e.model}</td><td>${statusBadge(e.status)}</td><td class="num">${count(e.totalTokens)}</td><td class="num">${usd(e.totalCost)}</td><td class="num">${e.durationMs === null ? '—' : `${count(e.durationMs)} ms`}</td></tr>`,
      )
}
</tbody></table>`
}

/** A change's JSON, cut to a readable length (the whole of it in the title). */
const compact = (v: unknown) => {
  if (v === null || v === undefined) return html`—`
  const text = JSON.stringify(v)
  return html`<code title="${text}">${text.length > 160 ? `${text.slice(0, 160)}…` : text}</code>`
}

function auditTable(ctx: PageContext, events: AuditEventRecord[]): SafeHtml {
  return html`<table id="audit"><thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Before</th><th>After</th></tr></thead><tbody>
${
  events.length === 0
    ? emptyRow(6, 'No admin changes recorded.')
    : events.map(
        (e) =>
          html`<tr><td>${instant(e.occurredAt, ctx.timeZone)}</td><td>${e.actor.type}${e.actor.id ? html` <code>${e.actor.id}</code>` : ''}</td><td><code>${e.action}</code></td><td>${e.target.type} <span class="muted">${e.target.id ?? ''}</span></td><td class="json">${compact(e.before)}</td><td class="json">${compact(e.after)}</td></tr>`,
      )
}
</tbody></table>`
}

function keyState(k: ApiKeyRecord, now: Date): SafeHtml {
  if (k.revokedAt && k.revokedAt.getTime() <= now.getTime()) return html`<span class="badge bad">revoked</span>`
  if (k.expiresAt && k.expiresAt.getTime() <= now.getTime()) return html`<span class="badge muted">expired</span>`
  return html`<span class="badge ok">active</span>`
}

export function tenantPage(ctx: PageContext, d: TenantDetail, periodName: DashboardPeriod, notice: string | undefined, now: Date): SafeHtml {
  const { base, timeZone } = ctx
  const t = d.tenant
  const operator = ctx.session.role === 'operator'
  const self = `${base}/tenants/${encodeURIComponent(t.tenantId)}`
  const limits = Object.values(d.status.limits)
  const body = html`
${notice && NOTICES[notice] ? html`<p class="notice" role="status">${NOTICES[notice]}</p>` : ''}
<p class="muted" id="tenant-facts"><code>${t.tenantId}</code> · ${t.active ? html`<span class="badge ok">active</span>` : html`<span class="badge bad">inactive</span>`} · enforcement <strong>${d.status.enforcement}</strong> <span class="source">(${d.status.enforcementSource})</span> · plan ${d.current ? html`<strong>${d.current.plan.name}</strong> <span class="muted">${d.current.plan.key} v${d.current.plan.version}</span>` : 'none'}</p>
<form class="filters" method="get" action="${self}">
  <label>Period<select name="period" data-autosubmit>${DASHBOARD_PERIODS.map((p) => html`<option value="${p}"${p === periodName ? html` selected` : ''}>${p.replaceAll('_', ' ')}</option>`)}</select></label>
  <button type="submit" class="secondary">Show</button>
  <a href="${base}/executions${queryString({ tenant: operator ? t.tenantId : undefined })}">All executions →</a>
</form>
<div class="cards" id="tenant-cards">
  <div class="card" data-card="cost"><div class="label">Cost</div><div class="value">${usd(d.totals.cost)}</div><div class="sub">${count(d.totals.tokens)} tokens</div></div>
  <div class="card" data-card="executions"><div class="label">Executions</div><div class="value">${count(d.totals.executions)}</div><div class="sub">${count(d.totals.failures)} failed</div></div>
  <div class="card" data-card="success-rate"><div class="label">Success rate</div><div class="value">${percent(d.totals.successRate)}</div><div class="sub">${count(d.totals.successes)} succeeded</div></div>
  <div class="card" data-card="refusals"><div class="label">Refusals</div><div class="value">${count(d.totals.refusals)}</div><div class="sub">${periodName.replaceAll('_', ' ')}</div></div>
</div>
<div class="grid">${costChart('chart-tenant', 'Usage per day, last 30 days', d.chart)}</div>
<div class="grid two">
<section class="panel"><h2>Budget</h2><table id="budget"><thead><tr><th>Limit</th><th>Used / limit</th><th class="num">Reserved</th><th>Source</th></tr></thead><tbody>
${limits.map((l) => html`<tr data-limit="${l.limitType}"><td>${l.limitType}</td><td>${limitMeter(l.limitType, l)}</td><td class="num">${typeof l.reserved === 'number' ? count(l.reserved) : usd(l.reserved)}</td><td class="source">${l.source ?? 'no limit'}</td></tr>`)}
</tbody></table></section>
<section class="panel"><h2>Rate limits</h2><table id="rate-limits"><thead><tr><th>Window</th><th class="num">Left / limit</th><th>Full again</th><th>Source</th></tr></thead><tbody>
${d.windows.length === 0 ? emptyRow(4, 'No rate limits apply.') : d.windows.map((w) => html`<tr><td>${w.scope} · ${w.measure} per ${w.window}</td><td class="num">${count(w.remaining)} / ${count(w.limit)}</td><td>${instant(w.resetsAt, timeZone)}</td><td class="source">${w.source}</td></tr>`)}
</tbody></table></section>
</div>
<div class="grid two">
${breakdownTable('by-agent', 'By agent', d.byAgent, (b) => b.key)}
${breakdownTable('by-model', 'By model', d.byModel, (b) => b.key)}
${breakdownTable('by-key', 'By API key', d.byKey, (b) => (b.key === '' ? html`<span class="muted">no key</span>` : html`${b.name ?? b.key} <span class="muted">${b.key.slice(0, 8)}</span>`))}
<section class="panel"><h2>Plan</h2>
${d.current ? html`<dl class="facts"><dt>Plan</dt><dd>${d.current.plan.name} (${d.current.plan.key} v${d.current.plan.version})</dd><dt>Since</dt><dd>${instant(d.current.assignment.effectiveFrom, timeZone)}</dd>${d.current.scheduled ? html`<dt>Scheduled</dt><dd>${d.current.scheduled.planKey} v${d.current.scheduled.planVersion} from ${instant(d.current.scheduled.effectiveFrom, timeZone)}</dd>` : ''}</dl>` : html`<p class="muted">Not on a plan.</p>`}
<table id="plan-history"><thead><tr><th>Plan</th><th>From</th><th>To</th></tr></thead><tbody>
${d.history.length === 0 ? emptyRow(3, 'No plan history.') : d.history.map((a) => html`<tr><td>${a.planKey} v${a.planVersion}</td><td>${instant(a.effectiveFrom, timeZone)}</td><td>${a.effectiveTo ? instant(a.effectiveTo, timeZone) : html`<span class="muted">current</span>`}</td></tr>`)}
</tbody></table></section>
<section class="panel wide"><h2>API keys</h2><table id="api-keys"><thead><tr><th>Name</th><th>Start</th><th>Created</th><th>Last used</th><th>State</th>${operator ? html`<th></th>` : ''}</tr></thead><tbody>
${
  d.keys.length === 0
    ? emptyRow(operator ? 6 : 5, 'No API keys.')
    : d.keys.map(
        (k) =>
          html`<tr data-key="${k.id}"><td>${k.name}</td><td><code>${k.start}…</code></td><td>${instant(k.createdAt, timeZone)}</td><td>${instant(k.lastUsedAt, timeZone)}</td><td>${keyState(k, now)}</td>${
            operator ? html`<td>${k.revokedAt && k.revokedAt.getTime() <= now.getTime() ? '' : revokeForm(ctx, t.tenantId, k)}</td>` : ''
          }</tr>`,
      )
}
</tbody></table></section>
<section class="panel wide"><h2>Recent executions</h2>${executionsTable(ctx, 'recent-executions', d.recent, 'No executions yet.')}</section>
<section class="panel wide"><h2>Failed executions <span class="muted">last 30 days</span></h2>${executionsTable(ctx, 'failed-executions', d.failed, 'No failures.')}</section>
<section class="panel wide"><h2>Audit trail</h2>${auditTable(ctx, d.audit.events)}
${d.audit.nextCursor ? html`<p class="pager"><a href="${self}/audit${queryString({ cursor: d.audit.nextCursor })}">Older events →</a></p>` : ''}</section>
${operator ? adminForms(ctx, d) : ''}
</div>`
  return page(ctx, t.name ?? t.tenantId, body, { current: operator ? 'tenants' : 'tenant' })
}

export function auditPage(ctx: PageContext, tenantId: string, events: AuditEventRecord[], next: string | null): SafeHtml {
  const self = `${ctx.base}/tenants/${encodeURIComponent(tenantId)}`
  const body = html`<p><a href="${self}">← Back to the tenant</a></p><section class="panel">${auditTable(ctx, events)}
<div class="pager">${next ? html`<a id="next-page" href="${self}/audit${queryString({ cursor: next })}">Older events →</a>` : ''}</div></section>`
  return page(ctx, `Audit trail · ${tenantId}`, body, { current: ctx.session.role === 'operator' ? 'tenants' : 'tenant' })
}
