/**
 * The files the handler serves itself (no CDN: the dashboard works offline and under a CSP of
 * 'self'): its stylesheet and script — kept here as strings, so `tsc` ships them in dist/ — and
 * uPlot's build and stylesheet, read once from the installed `uplot` package (a dependency). URLs
 * carry a version (`?v=`), so answers may be cached for a year; the ETag lets a revalidation be a 304.
 *
 * The script: pages work without it (links, plain forms, tables); it draws the charts (uPlot, from
 * each chart's JSON data island — the CSP allows no inline script), asks for a confirmation before
 * a destructive admin action and submits filter selects on change. The stylesheet: no page has a
 * style attribute or element; budget bars are `<meter>` elements coloured by their low / high marks.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

interface Asset {
  body: string
  type: string
  etag: string
}

const ASSET_FILES = {
  'uplot.js': ['uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
  'uplot.css': ['uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
} as const

let assets: Map<string, Asset> | undefined

const etagOf = (body: string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`

function load(): Map<string, Asset> {
  if (assets) return assets
  const require = createRequire(import.meta.url)
  const map = new Map<string, Asset>()
  for (const [name, [file, type]] of Object.entries(ASSET_FILES)) {
    const body = readFileSync(require.resolve(file), 'utf8')
    map.set(name, { body, type, etag: etagOf(body) })
  }
  map.set('dashboard.js', { body: DASHBOARD_JS, type: 'text/javascript; charset=utf-8', etag: etagOf(DASHBOARD_JS) })
  map.set('dashboard.css', { body: DASHBOARD_CSS, type: 'text/css; charset=utf-8', etag: etagOf(DASHBOARD_CSS) })
  assets = map
  return map
}

/** A short hash of every asset: the `?v=` of asset URLs, new whenever one changes. */
export function assetVersion(): string {
  const h = createHash('sha256')
  for (const a of load().values()) h.update(a.etag)
  return h.digest('base64url').slice(0, 10)
}

/** The answer for `/assets/<name>`, or null when there is no such asset. */
export function assetResponse(name: string, request: Request, headers: Record<string, string>): Response | null {
  const asset = load().get(name)
  if (!asset) return null
  const common = { ...headers, etag: asset.etag, 'cache-control': 'private, max-age=31536000, immutable' }
  if (request.headers.get('if-none-match') === asset.etag) return new Response(null, { status: 304, headers: common })
  return new Response(asset.body, { status: 200, headers: { ...common, 'content-type': asset.type } })
}

const DASHBOARD_JS = `(function () {
  'use strict';
  function money(v) {
    if (v == null) return '';
    var a = Math.abs(v);
    return '$' + (a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : a === 0 ? '0' : v.toPrecision(2));
  }
  function compact(v) {
    if (v == null) return '';
    var a = Math.abs(v);
    return a >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : a >= 1e3 ? (v / 1e3).toFixed(1) + 'k' : String(Math.round(v));
  }
  function dayLabel(days) {
    return function (u, splits) {
      return splits.map(function (s) {
        var i = u.data[0].indexOf(s);
        return i >= 0 ? days[i].slice(5) : '';
      });
    };
  }
  function drawChart(island) {
    var spec;
    try { spec = JSON.parse(island.textContent || '{}'); } catch (e) { return; }
    var target = document.getElementById(island.getAttribute('data-chart'));
    if (!target || typeof window.uPlot !== 'function') return;
    var x = spec.days.map(function (_, i) { return i; });
    var width = Math.max(280, target.clientWidth || 600);
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 40] }) : undefined;
    var opts = {
      width: width,
      height: 220,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: function (u, min, max) { return [min - 0.6, max + 0.6]; } }, count: { auto: true } },
      axes: [
        { values: dayLabel(spec.days), space: 48, stroke: '#5b6472', grid: { show: false } },
        { values: function (u, s) { return s.map(money); }, size: 60, stroke: '#5b6472', grid: { stroke: '#eceff3' } },
        { scale: 'count', side: 1, values: function (u, s) { return s.map(compact); }, size: 50, stroke: '#8a93a0', grid: { show: false } }
      ],
      series: [
        { label: 'Day', value: function (u, v) { return v == null ? '' : spec.days[v]; } },
        { label: 'Cost', stroke: '#3b5bdb', fill: 'rgba(59,91,219,0.35)', paths: bars, points: { show: false }, value: function (u, v) { return money(v); } },
        { label: 'Executions', scale: 'count', stroke: '#f08c00', width: 2, points: { size: 4 }, value: function (u, v) { return compact(v); } }
      ]
    };
    target.textContent = '';
    var chart = new window.uPlot(opts, [x, spec.cost, spec.executions], target);
    target.setAttribute('data-points', String(spec.days.length));
    var resize = function () { chart.setSize({ width: Math.max(280, target.clientWidth || width), height: 220 }); };
    window.addEventListener('resize', resize);
  }
  function init() {
    var islands = document.querySelectorAll('script[type="application/json"][data-chart]');
    for (var i = 0; i < islands.length; i++) drawChart(islands[i]);
    document.addEventListener('submit', function (e) {
      var form = e.target;
      var message = form && form.getAttribute && form.getAttribute('data-confirm');
      if (message && !window.confirm(message)) e.preventDefault();
    });
    var autos = document.querySelectorAll('select[data-autosubmit]');
    for (var j = 0; j < autos.length; j++) {
      autos[j].addEventListener('change', function (e) { if (e.target.form) e.target.form.submit(); });
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
`

const DASHBOARD_CSS = `
:root {
  --bg: #f5f6f8; --panel: #fff; --ink: #1d2330; --muted: #6b7380; --line: #e3e6eb; --accent: #3b5bdb;
  --ok: #2b8a3e; --ok-bg: #e6f4ea; --warn: #b35c00; --warn-bg: #fff1e0; --bad: #c92a2a; --bad-bg: #fdeaea; --info: #1864ab; --info-bg: #e7f1fb;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #1d2330; color: #fff; }
header.top .brand { color: #fff; font-weight: 650; letter-spacing: .2px; }
header.top nav { display: flex; gap: 4px; flex: 1; }
header.top nav a { color: #c9cfda; padding: 6px 12px; border-radius: 6px; }
header.top nav a[aria-current="page"], header.top nav a:hover { background: #333b4d; color: #fff; text-decoration: none; }
header.top .who { color: #9aa3b2; font-size: 13px; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
main.error { max-width: 720px; margin-top: 60px; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 24px 32px; }
h1 { font-size: 22px; margin: 4px 0 16px; font-weight: 650; }
h2 { font-size: 15px; margin: 0 0 12px; font-weight: 650; }
h1 .muted, h2 .muted { font-weight: 400; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 0 0 24px; }
.muted { color: var(--muted); }
.grid { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(400px, 1fr)); margin-bottom: 16px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; min-width: 0; overflow-x: auto; }
.panel.wide { grid-column: 1 / -1; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); }
.cards { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
.card .value { font-size: 22px; font-weight: 650; margin-top: 4px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; margin-top: 2px; }
.section-title { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; margin: 0 0 8px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 7px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .3px; }
td:first-child { overflow-wrap: anywhere; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:last-child td { border-bottom: none; }
td.empty { color: var(--muted); text-align: center; padding: 18px; }
td code, dd code { font-size: 12px; overflow-wrap: anywhere; }
td.json { max-width: 360px; }
hr { border: none; border-top: 1px solid var(--line); margin: 14px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.info { background: var(--info-bg); color: var(--info); }
.badge.muted { background: #eef0f3; color: var(--muted); }
.budget { display: inline-flex; align-items: center; gap: 8px; white-space: nowrap; }
meter { width: 96px; height: 10px; flex: none; }
meter::-webkit-meter-bar { background: #edf0f4; border: none; border-radius: 5px; height: 10px; }
meter::-webkit-meter-optimum-value { background: var(--ok); border-radius: 5px; }
meter::-webkit-meter-suboptimum-value { background: #f59f00; border-radius: 5px; }
meter::-webkit-meter-even-less-good-value { background: var(--bad); border-radius: 5px; }
.budget-text { font-variant-numeric: tabular-nums; font-size: 13px; }
.budget-text .pct { color: var(--muted); margin-left: 4px; }
.chart { width: 100%; min-height: 240px; }
.chart .u-legend { font-size: 12px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 14px; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
form.filters label, form.admin label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; font-size: 13px; }
input[type="text"], input[type="search"], select { padding: 5px 8px; border: 1px solid #cfd4dc; border-radius: 6px; background: #fff; min-width: 120px; }
button { padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; border-color: var(--bad); color: var(--bad); }
form.admin { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; align-items: end; }
form.admin.inline { display: inline-flex; gap: 8px; }
form.inline { display: inline; }
.pager { display: flex; justify-content: flex-end; gap: 8px; margin-top: 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; word-break: break-word; }
pre.json { background: #f7f8fa; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; overflow: auto; font-size: 12px; max-height: 360px; margin: 0; }
.notice { background: var(--info-bg); color: var(--info); border-radius: 8px; padding: 8px 12px; margin-bottom: 14px; }
.error-detail { background: var(--bad-bg); color: var(--bad); border-radius: 8px; padding: 8px 12px; }
.source { color: var(--muted); font-size: 12px; }
`
