/**
 * Keeps README.md and docs/*.md true: every fenced code block runs in a test.
 *
 * - README.md's "Quick start" blocks are run word for word, from the packed package, in an empty
 *   folder on SQLite and PostgreSQL by test/package/quick-start.test.ts; here we only check that
 *   every block of that section is one it runs.
 * - Every other `ts` block runs as a program with tsx in an empty folder of its own (a mkdtemp
 *   folder under os.tmpdir()) that holds only what an app has: `node_modules` (this repository's,
 *   with `prisma-llm-tenant` resolving to this repository's source through a tsconfig.json `paths`
 *   entry, as for the repository's own examples) and its generated client at
 *   `./generated/prisma` (this repository's SQLite client, built from test/schema/app.prisma). The
 *   blocks are also type-checked together with tsc, as an app would compile them.
 * - A `prisma` block outside the quick start shows the model the `ts` blocks use: it must be the
 *   model the generated client is built from (test/schema/app.prisma).
 * - `sh` blocks outside the quick start are this repository's own commands: `npm install` /
 *   `npm test` are what CI itself runs (running them here would recurse), so for those we check the
 *   script exists; the rest run.
 * - Relative links (files and #anchors, with GitHub's heading ids) must resolve.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }
import { codeBlocks, commandLines, docFiles, quickStartBlocks, quickStartFor, root, VARIANTS, type Block } from './package/markdown-blocks.ts'

const sources = ['README.md', ...docFiles()]
const all = sources.flatMap((source) => codeBlocks(source))
const key = (b: Block) => `${b.source}#${b.index}`
const quickStart = quickStartBlocks()
const quickStartKeys = new Set(quickStart.map(key))
const others = all.filter((b) => !quickStartKeys.has(key(b)))
const tsx = join(root, 'node_modules/.bin/tsx')
const label = (b: Block) => `${b.source}:${b.line}`

/** What each program promises to print (its comments), keyed by a line only that block has. */
const PROMISES: Array<{ has: string; prints: Array<string | RegExp>; never?: string[] }> = [
  {
    has: "const signedIn = await dashboard(new Request('http://localhost/admin/llm/', { headers: { 'x-role': 'ops' } }))",
    prints: ['200 401 true'],
  },
  {
    has: "const tenantHome = await page('/', 'acme-admin')",
    prints: ['200 true', '303 /admin/llm/tenants/acme', '403 404', '401 DENY'],
  },
  {
    has: "const api = createLlmHttpHandler(prisma, { apiKeys, runtime, basePath: '/api/llm' })",
    prints: [
      '200 Echo: Where is my order? true',
      'text/event-stream; charset=utf-8 event: delta event: done',
      '429 rate_limited minute true',
      '"requests-minute";q=2;w=60',
      'acme 2 0.0000078',
      '401 invalid_api_key',
    ],
  },
  {
    has: "id: 'slug', // field name or (record) => string",
    prints: [
      'answered with a tenant key 0.00036',
      /tenant "acme" dailyExecutions limit 2 would be exceeded \(current 2; agent SupportAgent; resets \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)/,
      'dailyExecutions 2 true',
      /limit: 2,\s+used: 2,\s+reserved: 0,\s+remaining: 0,\s+percentage: 100/,
      "[ 'BudgetExceededError' ]",
      /^2$/m,
    ],
    never: ['never runs'],
  },
  { has: 'const llm = createLlmRuntime(prisma, {', prints: ['key used: true', /streamed cost: 0\.\d+/] },
  { has: 'ledger.recordExecution({', prints: ['0.00036 1500 1', /^\[\]$/m], never: ['sk-never-stored'] },
  { has: "const tenant = { id: 'initech'", prints: ['tenant dailyCost 0.25 0.2 true', /^0\.2\n1$/m] },
  {
    has: 'globalMonthly: 0',
    prints: ['tenant monthlyCost room left: $0', /^Retry-After: \d+ until \d{4}-\d\d-01T0[45]:00:00\.000Z$/m, /^true$/m],
    never: ['never runs'],
  },
  { has: 'const extension = llmTenant(', prints: ['function 120000 hard'] },
  {
    has: "await plans.changePlan('acme', 'free') // creates the tenant row",
    prints: ['true 2', 'pro 2 100 plan', /^2 1$/m, /^1 acme$/m, /^true$/m, 'free@1 → pro@1 → pro@2 → free@1'],
  },
  {
    has: 'rateLimits: { requestsPerMinute: 3, tokensPerDay: 10_000 }',
    prints: [
      /^3$/m,
      'requestsPerMinute minute 3 tenant',
      'true true',
      'requestsPerMinute: 0 of 3, tokensPerDay: 9400 of 10000',
      '"requests-minute";q=3;w=60, "tokens-day";q=10000;w=86400',
    ],
  },
  {
    has: "prefix: 'sk_live', pepper:",
    prints: ['true 38 12', 'true api_key', 'true malformed', 'true true', /^2$/m, /^true$/m, /^production sk_live_[0-9A-Za-z]{4}… revoked: true$/m],
  },
  {
    has: "await withActor({ type: 'user', id: 'u_42'",
    prints: [
      'tenant.deactivated by job:dunning, plan.changed by user:u_42, tenant.limits.changed by user:u_42',
      '{"limits":{"dailyCost":"10"},"metadata":null} {"limits":{"dailyCost":"25"},"metadata":{"apiKey":"[REDACTED]","tier":"gold"}}',
      'tenant.created null',
    ],
    never: ['sk-not-for-logs'],
  },
  {
    has: "const signup = { tenantId: 'acme', idempotencyKey: 'signup-7f3a'",
    prints: ['false starter Support,Triage', /^acme$/m, 'true true null', /^true$/m, /^gpt-4\.1-mini\nBe brief\.\ngpt-4o\ntrue$/m],
  },
  {
    has: "const signup = { tenantId: 'acme', name: 'Acme', plan: 'starter'",
    prints: ['Support true true null', 'tenant.provisioned by user:u_1'],
  },
  {
    has: "const run = await billing.generateInvoices({ period: 'last_month' })",
    prints: [
      '2026-03 1 30.30',
      'base_fee basic 1296000 4.85',
      'included_usage basic 48452 0.00',
      'overage basic 1548 0.02',
      'base_fee pro 1378800 25.26',
      'included_usage pro 515478 0.00',
      'overage pro 84522 0.17',
      /^1$/m,
      'finalized 30.30 25.30',
      '7 true',
    ],
  },
  {
    has: "await support.run('My order is late', { tenant: 'acme', session: 'conv-42' })",
    prints: [
      'user: My order is late | assistant: Echo: My order is late | user: It is order 7 | assistant: Echo: It is order 7',
      /^2$/m,
      'conv-42 4 [{"role":"assistant","content":"Echo: It is order 7"}]',
      '{"role":"user","content":"Thanks!"}',
      'SESSION_QUOTA_EXCEEDED 1000n 2028n',
      '{"sessions":0,"items":0,"bytes":0,"limits":{"maxItems":50,"maxAge":2592000,"storageBytes":1000}}',
      'conv-42 Support 4',
      'user,assistant,user,assistant',
      /^1 0$/m,
    ],
  },
  {
    has: "rlsStatements({ serviceRole: 'my_llm_service' })",
    prints: [
      'llm_tenants, llm_executions, llm_budget_holds, llm_tenant_plans, llm_api_keys, llm_agent_configs, llm_audit_events, llm_invoices, llm_sessions, llm_session_items, llm_budget_counters, llm_rate_limits, llm_invoice_lines',
      `CREATE POLICY "llm_tenant_isolation" ON "llm_api_keys" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK`,
      /^INVALID_ARGUMENT$/m,
      /^Acme$/m,
    ],
  },
  {
    has: "await sessions.session('acme', 'conv-1').addItems(",
    prints: [/^1 0$/m, /^1$/m],
  },
  {
    has: "const api = createLlmHttpHandler(prisma, { apiKeys, basePath: '/api/llm' })",
    prints: [/^200 401$/m],
  },
  {
    has: "await plans.changePlan('acme', 'basic', { at: 'period_end' }) // from 1 March 00:00 Berlin",
    prints: ['2026-03 30.30'],
  },
  {
    has: "const prometheus = await createPrometheusMetrics({ bearerToken: 'a-long-scrape-token-0123' })",
    prints: [
      'invoke_agent support > chat gpt-4o-mini true',
      /^true$/m,
      'llm_tenant.admission, llm_tenant.settle',
      '12 true',
      /^401$/m,
      'executions of acme: 1 true',
      'semconv 1.41.0 0',
    ],
  },
]

/** An empty app folder: node_modules, the generated client, and tsconfig paths to this repository's source. */
function scratchApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-docs-'))
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  mkdirSync(join(dir, 'generated'))
  symlinkSync(join(root, 'generated/sqlite'), join(dir, 'generated/prisma'))
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        types: ['node'],
        strict: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        noEmit: true,
        moduleDetection: 'force',
        paths: {
          'prisma-llm-tenant': [join(root, 'src/index.ts')],
          'prisma-llm-tenant/testing': [join(root, 'src/testing/index.ts')],
          'prisma-llm-tenant/http': [join(root, 'src/http/index.ts')],
          'prisma-llm-tenant/observability': [join(root, 'src/observability/index.ts')],
          'prisma-llm-tenant/dashboard': [join(root, 'src/dashboard/index.ts')],
        },
      },
      include: ['*.ts'],
    }),
  )
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  return dir
}

/** GitHub's id of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

describe('README.md and docs/*.md code blocks', () => {
  it('are sh, ts or prisma blocks; variants and file blocks appear only in the quick start', () => {
    expect(all.length).toBeGreaterThan(10)
    for (const b of all) expect(['ts', 'sh', 'prisma'], label(b)).toContain(b.lang)
    for (const b of others) {
      expect(b.variant, `${label(b)}: variants are for the quick start`).toBeUndefined()
      expect(b.file, `${label(b)}: file blocks are for the quick start`).toBeUndefined()
    }
  })

  it('every quick-start block is run by test/package/quick-start.test.ts (on each database it is for)', () => {
    const run = new Set(VARIANTS.flatMap((v) => quickStartFor(v)).map(key))
    expect(quickStart.length).toBeGreaterThan(5)
    for (const b of quickStart) {
      expect(run.has(key(b)), label(b)).toBe(true)
      expect(b.lang === 'sh' || b.file !== undefined, `${label(b)}: a quick-start block is commands or a file`).toBe(true)
    }
    expect(readFileSync(join(root, 'test/package/quick-start.test.ts'), 'utf8')).toContain('quickStartFor(variant)')
  })

  it.each(others.filter((b) => b.lang === 'ts').map((b) => [label(b), b] as const))(
    'ts block %s runs in an empty folder',
    (_label, block) => {
      const matching = PROMISES.filter((p) => block.code.includes(p.has))
      expect(matching, `${label(block)}: add what this block prints to PROMISES (exactly one entry must match it)`).toHaveLength(1)
      const promise = matching[0]
      const dir = scratchApp()
      try {
        writeFileSync(join(dir, 'snippet.ts'), block.code)
        const out = execFileSync(tsx, ['snippet.ts'], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' },
        })
        for (const expected of promise!.prints) {
          if (typeof expected === 'string') expect(out).toContain(expected)
          else expect(out).toMatch(expected)
        }
        for (const absent of promise!.never ?? []) expect(out).not.toContain(absent)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    90_000,
  )

  it('ts blocks type-check as an app would compile them', () => {
    const dir = scratchApp()
    try {
      others.filter((b) => b.lang === 'ts').forEach((b, i) => writeFileSync(join(dir, `block-${i}.ts`), `// ${label(b)}\n${b.code}`))
      try {
        execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string }
        throw new Error(`tsc found errors in the documentation's code blocks:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 150_000)

  it.each(others.filter((b) => b.lang === 'prisma').map((b) => [label(b), b] as const))(
    'prisma block %s is the model the generated client is built from',
    (_label, block) => {
      const squash = (s: string) => s.replace(/\s+/g, ' ').trim()
      expect(squash(readFileSync(join(root, 'test/schema/app.prisma'), 'utf8'))).toContain(squash(block.code))
    },
  )

  it.each(others.filter((b) => b.lang === 'sh').map((b) => [label(b), b] as const))(
    'sh block %s runs',
    (_label, block) => {
      for (const line of commandLines(block)) {
        const npm = /^(?:[A-Z_]+=\S+ )*npm (install|test|run (\S+))$/.exec(line)
        expect(npm, `${label(block)}: "${line}" is not one of this repository's npm commands`).not.toBeNull()
        const script = npm![1] === 'install' ? 'prepare' : npm![1] === 'test' ? 'test' : npm![2]
        expect(pkg.scripts, line).toHaveProperty(script)
        if (npm![1] === 'install' || npm![1] === 'test') continue
        const out = execFileSync('bash', ['-c', line], { cwd: root, encoding: 'utf8', timeout: 120_000 })
        expect(out.length).toBeGreaterThan(0)
      }
    },
    180_000,
  )

  it('relative links resolve to files and headings', () => {
    const broken: string[] = []
    for (const source of sources) {
      const text = readFileSync(join(root, source), 'utf8').replace(/```[\s\S]*?```/g, '')
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue
        const [path, anchor] = target.split('#')
        const file = path === '' ? join(root, source) : join(root, dirname(source), path)
        if (!existsSync(file)) {
          broken.push(`${source}: ${target} (no file)`)
          continue
        }
        if (anchor === undefined || !file.endsWith('.md')) continue
        const ids = readFileSync(file, 'utf8')
          .replace(/```[\s\S]*?```/g, '')
          .split('\n')
          .flatMap((l) => (/^#{1,6} (.+)$/.exec(l) ? [slug(/^#{1,6} (.+)$/.exec(l)![1])] : []))
        if (!ids.includes(anchor)) broken.push(`${source}: ${target} (no heading; ids: ${ids.join(', ')})`)
      }
    }
    expect(broken).toEqual([])
  })
})
