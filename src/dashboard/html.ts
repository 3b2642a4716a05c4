/**
 * The dashboard's markup. The one way it builds HTML is the `html` tagged template: it escapes
 * every interpolated value (text, attribute values, numbers, Decimals, Dates) unless it is already
 * `SafeHtml` — the result of another `html` template, or of `raw()`, which only this folder's own
 * constant markup uses. Arrays are joined after each item is escaped. There is no other string
 * concatenation of markup in the dashboard, so a tenant name, agent type, model, error or metadata
 * value can never become markup. Also here: the page shell (head with the served stylesheet and
 * script, navigation by role) and the formatting every page shares — money, counts, percentages,
 * instants in the configured zone, status badges and budget meters.
 */
import type { Decimal } from '../foundation/money.js'
import type { DashboardSession } from './context.js'

/** Markup that is already safe (escaped, or constant). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' }

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c])
}

type Interpolation = SafeHtml | string | number | bigint | boolean | null | undefined | { toString(): string } | readonly Interpolation[]

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  if (value instanceof Date) return escapeHtml(value.toISOString())
  return escapeHtml(String(value))
}

/** A template whose every `${…}` is escaped (SafeHtml and arrays of it are kept as they are). */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new SafeHtml(out)
}

/** Constant markup of this folder (never data): marked safe as it is. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

/**
 * JSON for a `<script type="application/json">` data island: `<`, `>`, `&` and the JS line
 * separators become \u escapes, so no value can close the element or open a comment.
 */
export function jsonIsland(id: string, data: unknown, chartTarget?: string): SafeHtml {
  const json = JSON.stringify(data).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const target = chartTarget === undefined ? '' : html` data-chart="${chartTarget}"`
  return html`<script type="application/json" id="${id}"${target}>${raw(json)}</script>`
}

/** A query string from parameters (empty values left out), for links that keep the page's filters. */
export function queryString(params: Record<string, string | undefined | null>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v)
  const s = q.toString()
  return s === '' ? '' : `?${s}`
}

export interface PageContext {
  /** The mount path ('' or '/admin/llm'): every link starts with it. */
  base: string
  session: DashboardSession
  csrf: string
  timeZone: string
  title: string
  /** The asset version (cache key in asset URLs). */
  assetVersion: string
}

export function page(ctx: PageContext, heading: string, body: SafeHtml, options: { current?: string } = {}): SafeHtml {
  const { base, session } = ctx
  const nav =
    session.role === 'operator'
      ? [
          ['overview', `${base}/`, 'Overview'],
          ['tenants', `${base}/tenants`, 'Tenants'],
          ['executions', `${base}/executions`, 'Executions'],
        ]
      : [
          ['tenant', `${base}/tenants/${encodeURIComponent(session.tenantId)}`, 'Usage'],
          ['executions', `${base}/executions`, 'Executions'],
        ]
  const who = session.actor.id ?? session.actor.type
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${heading} · ${ctx.title}</title>
<link rel="stylesheet" href="${base}/assets/uplot.css?v=${ctx.assetVersion}">
<link rel="stylesheet" href="${base}/assets/dashboard.css?v=${ctx.assetVersion}">
<script src="${base}/assets/uplot.js?v=${ctx.assetVersion}" defer></script>
<script src="${base}/assets/dashboard.js?v=${ctx.assetVersion}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="${nav[0][1]}">${ctx.title}</a>
  <nav>${nav.map(([key, href, label]) => html`<a href="${href}"${options.current === key ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
  <span class="who" title="${session.actor.type}">${who} · ${session.role === 'operator' ? 'operator' : session.tenantId}</span>
</header>
<main>
<h1>${heading}</h1>
${body}
</main>
<footer>Times in ${ctx.timeZone}. Figures from the exact ledger (nano-USD); charts round for drawing only.</footer>
</body>
</html>`
}

/** A page of its own for an error (400 with the field and what it accepts, 403, 404, 500). */
export function errorPage(
  ctx: Omit<PageContext, 'session' | 'csrf'> & { session?: DashboardSession },
  status: number,
  title: string,
  detail: SafeHtml,
): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${status} ${title} · ${ctx.title}</title>
<link rel="stylesheet" href="${ctx.base}/assets/dashboard.css?v=${ctx.assetVersion}"></head>
<body><main class="error"><h1>${status} · ${title}</h1>${detail}<p><a href="${ctx.base}/">Back to the dashboard</a></p></main></body>
</html>`
}

const grouping = new Intl.NumberFormat('en-US')

/** Dollars for display: cents from $1, more digits below (a call often costs a fraction of a cent); exact value in the title. */
export function usd(value: Decimal): SafeHtml {
  const abs = value.abs()
  const shown = abs.gte(1) ? value.toDecimalPlaces(2) : abs.isZero() ? value : value.toSignificantDigits(3)
  const [int, frac] = shown
    .abs()
    .toFixed(abs.gte(1) ? 2 : Math.max(2, shown.decimalPlaces()))
    .split('.')
  const text = `${value.isNegative() ? '−' : ''}$${grouping.format(BigInt(int))}${frac ? `.${frac}` : ''}`
  return html`<span class="money" title="$${value.toFixed()}">${text}</span>`
}

export function count(value: number | bigint): string {
  return grouping.format(value)
}

export function percent(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(value >= 10 || value === 0 ? 1 : 2)}%`
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** An instant in the configured zone, 'YYYY-MM-DD HH:MM:SS'; the ISO instant in the title. */
export function instant(at: Date | null, timeZone: string): SafeHtml {
  if (at === null) return html`<span class="muted">—</span>`
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    formatters.set(timeZone, f)
  }
  return html`<time datetime="${at.toISOString()}" title="${at.toISOString()}">${f.format(at)}</time>`
}

export function statusBadge(status: string): SafeHtml {
  const kind = status === 'success' ? 'ok' : status === 'refused' ? 'warn' : status === 'running' ? 'info' : status === 'cancelled' ? 'muted' : 'bad'
  return html`<span class="badge ${kind}">${status}</span>`
}

/**
 * A budget bar: a `<meter>` (no inline style under the CSP), coloured by the browser from its
 * low/high marks — green below 75%, amber to 90%, red beyond — with used / limit beside it.
 */
export function budgetMeter(label: string, used: SafeHtml | string, limit: SafeHtml | string | null, percentage: number | null): SafeHtml {
  if (limit === null || percentage === null) return html`<span class="muted" title="${label}: no limit">${used} · no limit</span>`
  const value = Math.min(100, Math.max(0, percentage))
  return html`<span class="budget"><meter min="0" max="100" low="75" high="90" optimum="0" value="${value}" title="${label}: ${percent(percentage)}">${percent(percentage)}</meter>
<span class="budget-text">${used} / ${limit} <span class="pct">${percent(percentage)}</span></span></span>`
}

/** An empty state row for a table. */
export function emptyRow(columns: number, text: string): SafeHtml {
  return html`<tr><td colspan="${columns}" class="empty">${text}</td></tr>`
}

/** A link to a tenant's page. */
export function tenantLink(base: string, tenantId: string | null, name?: string | null): SafeHtml {
  if (tenantId === null) return html`<span class="muted">no tenant</span>`
  return html`<a href="${base}/tenants/${encodeURIComponent(tenantId)}">${name ? html`${name} <span class="muted">${tenantId}</span>` : tenantId}</a>`
}
