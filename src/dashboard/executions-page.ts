/**
 * Executions: the filter form (tenant, agent, model, status incl. refused, period, key) with keyset
 * "Next" links, and one execution — tokens, cost breakdown, attempts and fallbacks of its trace,
 * its parent, the error and the metadata as stored (credential-shaped keys were redacted before
 * the write; shown escaped, never interpreted).
 */
import { EXECUTION_STATUSES, type ExecutionRecord } from '../ledger/types.js'
import type { ExecutionDetail, ListedExecution } from './executions-data.js'
import { html, queryString, type SafeHtml, count, instant, page, statusBadge, tenantLink, usd, type PageContext } from './html.js'
import { executionsTable } from './tenant-page.js'

export const EXECUTION_PERIODS = ['last_30_days', 'today', 'yesterday', 'this_week', 'last_week', 'this_month', 'last_month', 'all'] as const
type ExecutionPeriod = (typeof EXECUTION_PERIODS)[number]

export interface ExecutionsForm {
  tenant?: string
  agent?: string
  model?: string
  status?: string
  period: ExecutionPeriod
  key?: string
  cursor?: string
}

export function executionsPage(ctx: PageContext, form: ExecutionsForm, result: { rows: ListedExecution[]; next: string | null }): SafeHtml {
  const { base } = ctx
  const operator = ctx.session.role === 'operator'
  const keep = {
    tenant: form.tenant,
    agent: form.agent,
    model: form.model,
    status: form.status,
    period: form.period === 'last_30_days' ? undefined : form.period,
    key: form.key,
  }
  const text = (name: keyof ExecutionsForm, label: string, placeholder: string) =>
    html`<label>${label}<input type="text" name="${name}" value="${form[name] ?? ''}" placeholder="${placeholder}" maxlength="255"></label>`
  const body = html`
<form class="filters" method="get" action="${base}/executions">
  ${operator ? text('tenant', 'Tenant', 'tenant id') : ''}
  ${text('agent', 'Agent', 'agent type')}
  ${text('model', 'Model', 'model')}
  <label>Status<select name="status"><option value="">any</option>${EXECUTION_STATUSES.map((s) => html`<option value="${s}"${s === form.status ? html` selected` : ''}>${s}</option>`)}</select></label>
  <label>Period<select name="period">${EXECUTION_PERIODS.map((p) => html`<option value="${p}"${p === form.period ? html` selected` : ''}>${p.replaceAll('_', ' ')}</option>`)}</select></label>
  ${text('key', 'API key', 'key id')}
  <button type="submit">Filter</button>
  <a href="${base}/executions">Reset</a>
</form>
<section class="panel">
${executionsTable(ctx, 'executions', result.rows, 'No executions match.', operator)}
<div class="pager">${result.next ? html`<a id="next-page" href="${base}/executions${queryString({ ...keep, cursor: result.next })}">Next →</a>` : ''}${
    form.cursor ? html` <a href="${base}/executions${queryString(keep)}">First page</a>` : ''
  }</div>
</section>`
  return page(ctx, 'Executions', body, { current: 'executions' })
}

const stepOf = (e: ExecutionRecord) => (e.metadata as { step?: unknown } | null)?.step ?? null

/** A row whose model differs from the first attempt's of its step: a fallback model answered (or was tried). */
function isFallback(trace: ExecutionRecord[], row: ExecutionRecord): boolean {
  const first = trace.find((t) => stepOf(t) === stepOf(row) && t.agentType === row.agentType)
  return first !== undefined && first.model !== row.model
}

function attemptOf(e: { metadata: unknown }): string {
  const m = e.metadata as Record<string, unknown> | null
  if (!m || typeof m !== 'object') return ''
  const parts = []
  if (typeof m.step === 'number') parts.push(`step ${m.step}`)
  if (typeof m.attempt === 'number') parts.push(`attempt ${m.attempt}`)
  return parts.join(' · ')
}

export function executionPage(ctx: PageContext, d: ExecutionDetail): SafeHtml {
  const { base, timeZone } = ctx
  const e = d.execution
  const link = (id: string, label: SafeHtml | string) => html`<a href="${base}/executions/${encodeURIComponent(id)}">${label}</a>`
  const body = html`
<div class="grid two">
<section class="panel"><h2>Execution</h2><dl class="facts" id="execution-facts">
<dt>Id</dt><dd><code>${e.id}</code></dd>
<dt>Tenant</dt><dd>${tenantLink(base, e.tenantId, e.tenantName)}</dd>
<dt>Agent</dt><dd>${e.agentType}</dd>
<dt>Provider / model</dt><dd>${e.provider ?? '—'} / ${e.model}</dd>
<dt>Status</dt><dd>${statusBadge(e.status)}</dd>
<dt>Started</dt><dd>${instant(e.startedAt, timeZone)}</dd>
<dt>Completed</dt><dd>${instant(e.completedAt, timeZone)}</dd>
<dt>Duration</dt><dd>${e.durationMs === null ? '—' : `${count(e.durationMs)} ms`}</dd>
<dt>API key</dt><dd>${e.apiKeyId ? html`<code>${e.apiKeyId}</code>` : html`<span class="muted">none</span>`}</dd>
<dt>Trace</dt><dd>${e.traceId ? html`<code>${e.traceId}</code>` : html`<span class="muted">none</span>`}</dd>
<dt>Parent</dt><dd>${d.parent ? link(d.parent.id, html`${d.parent.agentType} · ${d.parent.model}`) : e.parentId ? html`<code>${e.parentId}</code>` : html`<span class="muted">none</span>`}</dd>
</dl></section>
<section class="panel"><h2>Tokens and cost</h2><table id="cost-breakdown"><thead><tr><th></th><th class="num">Tokens</th><th class="num">Cost</th></tr></thead><tbody>
<tr><td>Input</td><td class="num">${count(e.inputTokens)}</td><td class="num">${usd(e.inputCost)}</td></tr>
<tr><td>Cached input</td><td class="num">${count(e.cachedInputTokens)}</td><td class="num muted">incl. above</td></tr>
<tr><td>Output</td><td class="num">${count(e.outputTokens)}</td><td class="num">${usd(e.outputCost)}</td></tr>
<tr><th>Total</th><th class="num">${count(e.totalTokens)}</th><th class="num">${usd(e.totalCost)}</th></tr>
</tbody></table></section>
${
  e.errorClass || e.errorMessage
    ? html`<section class="panel wide"><h2>Error</h2><p class="error-detail" id="execution-error"><strong>${e.errorClass ?? 'Error'}</strong>${e.errorMessage ? html` — ${e.errorMessage}` : ''}</p></section>`
    : ''
}
<section class="panel wide"><h2>Attempts and fallbacks <span class="muted">same trace</span></h2><table id="trace"><thead><tr><th>Started</th><th>Agent</th><th>Model</th><th>Attempt</th><th>Status</th><th class="num">Tokens</th><th class="num">Cost</th><th>Error</th></tr></thead><tbody>
${
  d.trace.length === 0
    ? html`<tr><td colspan="8" class="empty">No other executions share its trace.</td></tr>`
    : d.trace.map(
        (t) =>
          html`<tr${t.id === e.id ? html` class="current"` : ''}><td>${t.id === e.id ? instant(t.startedAt, timeZone) : link(t.id, instant(t.startedAt, timeZone))}</td><td>${t.agentType}</td><td>${t.model}${isFallback(d.trace, t) ? html` <span class="badge info">fallback</span>` : ''}</td><td>${attemptOf(t)}</td><td>${statusBadge(t.status)}</td><td class="num">${count(t.totalTokens)}</td><td class="num">${usd(t.totalCost)}</td><td>${t.errorClass ?? ''}</td></tr>`,
      )
}
</tbody></table></section>
<section class="panel wide"><h2>Metadata <span class="muted">as stored (credentials redacted at write)</span></h2>
<pre class="json" id="execution-metadata">${e.metadata === null ? 'none' : JSON.stringify(e.metadata, null, 2)}</pre></section>
</div>`
  return page(ctx, `${e.agentType} · ${e.status}`, body, { current: 'executions' })
}
