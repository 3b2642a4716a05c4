/**
 * Imports every path of package.json "exports" through the package's own name (Node self-reference),
 * i.e. exactly as a user would after `npm install prisma-llm-tenant`, from the built `dist/`.
 */
import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import pkg from '../../package.json' with { type: 'json' }

const require = createRequire(import.meta.url)
const entries = Object.entries(pkg.exports as Record<string, string | { types: string; import: string }>)

describe('package exports', () => {
  it('lists the expected entry points', () => {
    expect(Object.keys(pkg.exports)).toEqual(
      expect.arrayContaining([
        '.',
        './ledger',
        './tenant',
        './periods',
        './money',
        './errors',
        './schema',
        './agents',
        './pricing',
        './providers',
        './crypto',
        './testing',
        './http',
        './dashboard',
        './observability',
      ]),
    )
  })

  it.each(entries.filter(([, t]) => typeof t === 'object'))('%s imports from dist with its types present', async (subpath, target) => {
    const t = target as { types: string; import: string }
    const specifier = subpath === '.' ? 'prisma-llm-tenant' : `prisma-llm-tenant/${subpath.slice(2)}`
    const mod = (await import(specifier)) as Record<string, unknown>
    expect(Object.keys(mod).length).toBeGreaterThan(0)
    expect(existsSync(new URL(`../../${t.types}`, import.meta.url))).toBe(true)
  })

  it.each(entries.filter(([, t]) => typeof t === 'string'))('%s resolves to a shipped file', (subpath) => {
    const resolved = require.resolve(`prisma-llm-tenant/${subpath.slice(2)}`)
    expect(readFileSync(resolved, 'utf8').length).toBeGreaterThan(0)
  })

  it('the dashboard entry serves its assets from the built package (uPlot resolved from its dependency)', async () => {
    const { createLlmDashboard, toNodeListener } = (await import('prisma-llm-tenant/dashboard')) as typeof import('../../src/dashboard/index.ts')
    expect(typeof toNodeListener).toBe('function')
    const fake = new Proxy({}, { get: (_, k) => (k === '$queryRawUnsafe' ? () => Promise.resolve([]) : k === '_activeProvider' ? 'sqlite' : {}) })
    const dashboard = createLlmDashboard(fake, { secret: 'x'.repeat(32), auth: () => ({ role: 'operator', actor: { type: 'user', id: 'a' } }) })
    for (const name of ['uplot.js', 'uplot.css', 'dashboard.js', 'dashboard.css']) {
      const res = await dashboard(new Request(`http://local/assets/${name}`))
      expect(res.status, name).toBe(200)
      expect((await res.text()).length, name).toBeGreaterThan(500)
    }
  })

  it('./observability exposes the Prometheus endpoint and the names, and loads its optional peers only when used', async () => {
    const mod = (await import('prisma-llm-tenant/observability')) as Record<string, unknown>
    for (const name of ['createPrometheusMetrics', 'metricsHandler', 'MissingMetricsPeerError', 'METRICS', 'GEN_AI', 'LLM_TENANT', 'GEN_AI_SEMCONV_VERSION']) {
      expect(mod[name], name).toBeDefined()
    }
    const js = readFileSync(new URL('../../dist/observability/prometheus.js', import.meta.url), 'utf8')
    expect(js).not.toMatch(/^import .*@opentelemetry\/(sdk-metrics|exporter-prometheus)/m)
  })

  it('the root entry exposes the public API', async () => {
    const root = (await import('prisma-llm-tenant')) as Record<string, unknown>
    for (const name of [
      'createLedger',
      'LlmLedger',
      'defineLlmConfig',
      'TenantStore',
      'Decimal',
      'resolvePeriod',
      'InvalidArgumentError',
      'applyLlmTenantSchema',
    ]) {
      expect(root[name], name).toBeDefined()
    }
  })
})
