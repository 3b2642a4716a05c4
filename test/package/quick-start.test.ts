/**
 * README.md's quick start, word for word, as an app developer meets it: in an empty folder outside
 * this repository (a mkdtemp folder under os.tmpdir()), against the packed package (`npm pack`),
 * offline (the provider is the package's ProviderEmulator; Prisma's schema engine is never
 * downloaded), on SQLite and on PostgreSQL.
 *
 * The blocks come from README.md's "## Quick start" section (see markdown-blocks.ts for the
 * conventions): `sh` blocks run line by line in the folder, `ts` / `prisma` blocks naming a file
 * are written to it, in README order; blocks marked `sqlite` / `postgresql` belong to that variant.
 *
 * The ONLY substitution of README text: in `npm install` lines, the word `prisma-llm-tenant` is
 * replaced by the path of the tarball packed from this repository (the README installs it from
 * the registry). Everything else is the environment, not the text:
 * - PostgreSQL: DATABASE_URL names a database created for the test (dropped afterwards), as the
 *   README tells the reader to set it;
 * - `npm install` lines run with PRISMA_SCHEMA_ENGINE_BINARY set (so Prisma's postinstall does not
 *   try to download its engine) and npm_config_build_from_source=better-sqlite3 (so better-sqlite3
 *   compiles instead of trying to download a prebuilt binary): nothing downloads binaries. Every
 *   other command runs with PRISMA_SCHEMA_ENGINE_BINARY unset, so `prisma-llm-tenant generate`
 *   has to find its own way;
 * - this repository's npm_* variables and node_modules/.bin are removed from the environment.
 *
 * The package is packed from a staging folder: the files `npm pack` takes from this repository
 * (its `files`, package.json, README, LICENSE) with dist/ compiled fresh from src/ as
 * `npm run build` does — so the test never depends on (or rewrites) the repository's own dist/.
 *
 * Then, in the SQLite app, README.md's "HTTP API for tenants" and "Dashboard for operators and
 * tenants" blocks, word for word (they use the quick start's generated client and dev.db): the
 * package's `./http` and `./dashboard` entry points as an app meets them, from the tarball.
 *
 * Also here, in the same app (which installs `openai` but not `@anthropic-ai/sdk`): the regression
 * test for "a missing optional SDK is a raw ERR_MODULE_NOT_FOUND": an Anthropic agent rejects with
 * MissingProviderSdkError before any admission — no ledger row, no counter row.
 *
 * Duration: the SQLite variant's install compiles better-sqlite3 (1–2 minutes); the whole file takes
 * 2–3 minutes on a shared 2-core machine.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { Decimal } from 'decimal.js'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeBlocks, commandLines, quickStartBlocks, quickStartFor, root, type Variant } from './markdown-blocks.ts'

const POSTGRES_URL = process.env.TEST_POSTGRES_URL
if (process.env.REQUIRE_POSTGRES === '1' && !POSTGRES_URL) throw new Error('REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set')
const VARIANTS_RUN: Variant[] = POSTGRES_URL ? ['sqlite', 'postgresql'] : ['sqlite']

const INSTALL_TIMEOUT = 6 * 60_000
const PLACEHOLDER = join(root, 'bin/schema-engine-placeholder.txt')

/** The environment of every command: this process's, without the repository's npm and bin context. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|INIT_CWD$|NODE_OPTIONS$|NODE_PATH$|PRISMA_|VITEST|TEST_POSTGRES_URL$|REQUIRE_POSTGRES$|DATABASE_URL$)/.test(key)) continue
    env[key] = value
  }
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !p.includes('node_modules'))
    .join(delimiter)
  env.npm_config_update_notifier = 'false'
  env.npm_config_fund = 'false'
  env.npm_config_audit = 'false'
  return env
}

interface Ran {
  command: string
  stdout: string
  /** stdout and stderr. */
  output: string
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv, timeout = INSTALL_TIMEOUT): Ran {
  const r = spawnSync('bash', ['-ec', command], { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 })
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`
  if (r.status !== 0)
    throw new Error(`\`${command}\` failed in ${cwd} (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}${r.error ? `, ${r.error.message}` : ''}):\n${output}`)
  return { command, stdout: r.stdout, output }
}

/**
 * Packs the package as `npm pack` does, with dist/ compiled fresh from src/: a staging folder holds
 * the files `npm pack` would take from this repository plus src/ and the tsconfigs to build from
 * (not packed: they are not in `files`), so dist/ (and its source maps) come out as `npm run build`
 * makes them, without touching the repository's own dist/.
 */
function packTarball(into: string): string {
  const listed = JSON.parse(run('npm pack --dry-run --json --ignore-scripts', root, baseEnv(), 120_000).stdout) as Array<{ files: Array<{ path: string }> }>
  const shipped = listed[0].files.map((f) => f.path).filter((p) => !p.startsWith('dist/'))
  const stage = join(into, 'stage')
  for (const path of [...shipped, 'src', 'tsconfig.json', 'tsconfig.build.json']) {
    mkdirSync(dirname(join(stage, path)), { recursive: true })
    cpSync(join(root, path), join(stage, path), { recursive: true })
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'))
  run(`node ${JSON.stringify(join(root, 'node_modules/typescript/bin/tsc'))} -p tsconfig.build.json`, stage, baseEnv(), 180_000)
  const packed = JSON.parse(run(`npm pack --json --ignore-scripts --pack-destination ${JSON.stringify(into)}`, stage, baseEnv(), 120_000).stdout) as Array<{
    filename: string
    files: Array<{ path: string }>
  }>
  const files = packed[0].files.map((f) => f.path)
  expect(files.filter((p) => !p.startsWith('dist/')).sort()).toEqual([...shipped].sort())
  expect(files).toEqual(
    expect.arrayContaining([
      'LICENSE',
      'README.md',
      'bin/prisma-llm-tenant.mjs',
      'dist/index.js',
      'dist/index.d.ts',
      'docs/options.md',
      'prisma/schema/llm-tenant.prisma',
      'prisma/sql/postgresql.sql',
    ]),
  )
  return join(into, packed[0].filename)
}

/** The one allowed substitution: the tarball where an `npm install` line names `prisma-llm-tenant`. */
function substitute(line: string, tarball: string): { line: string; substituted: number } {
  if (!/^npm install\b/.test(line)) return { line, substituted: 0 }
  let substituted = 0
  const words = line.split(' ').map((w) => (w === 'prisma-llm-tenant' ? (substituted++, tarball) : w))
  return { line: words.join(' '), substituted }
}

interface QuickStart {
  app: string
  env: NodeJS.ProcessEnv
  runs: Ran[]
  /** The output of the last command (the program). */
  output: string
}

/** Runs the quick start of `variant` in a new empty folder. */
function runQuickStart(variant: Variant, tarball: string, extraEnv: NodeJS.ProcessEnv): QuickStart {
  const app = mkdtempSync(join(tmpdir(), `llm-tenant-quick-start-${variant}-`))
  expect(readdirSync(app)).toEqual([])
  const env = { ...baseEnv(), ...extraEnv }
  const runs: Ran[] = []
  let substitutions = 0
  for (const block of quickStartFor(variant)) {
    if (block.file) {
      mkdirSync(dirname(join(app, block.file)), { recursive: true })
      writeFileSync(join(app, block.file), block.code)
      continue
    }
    expect(block.lang, `README.md:${block.line}: a quick-start block must be sh commands or a file`).toBe('sh')
    for (const original of commandLines(block)) {
      const { line, substituted } = substitute(original, tarball)
      substitutions += substituted
      const install = /^npm install\b/.test(line)
      const lineEnv = install ? { ...env, PRISMA_SCHEMA_ENGINE_BINARY: PLACEHOLDER, npm_config_build_from_source: 'better-sqlite3' } : env
      runs.push(run(line, app, lineEnv))
    }
  }
  expect(substitutions, 'the README installs prisma-llm-tenant exactly once').toBe(1)
  return { app, env, runs, output: runs.at(-1)!.output }
}

async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Ledger rows of the quick start's tenant, by status. */
async function ledgerStatuses(variant: Variant, app: string, databaseUrl: string | undefined): Promise<Record<string, number>> {
  const sql = `SELECT status, COUNT(*) AS n FROM llm_executions WHERE tenant_id = 'acme' GROUP BY status ORDER BY status`
  let rows: Array<{ status: string; n: number | string }>
  if (variant === 'sqlite') {
    const file = new Database(join(app, 'dev.db'), { readonly: true })
    try {
      rows = file.prepare(sql).all() as typeof rows
    } finally {
      file.close()
    }
  } else {
    rows = await withPg(databaseUrl!, async (c) => (await c.query(sql)).rows)
  }
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
}

/** Not from the README: the regression program for a missing provider SDK, run in the quick start's app. */
const MISSING_SDK_PROGRAM = `
import { applyLlmTenantSchema, createLlmRuntime, MissingProviderSdkError } from 'prisma-llm-tenant'
import { ProviderEmulator } from 'prisma-llm-tenant/testing'
import { db } from './db.ts'

const emulator = await new ProviderEmulator().start()
await applyLlmTenantSchema(db)
const count = async () => {
  const q = async (sql: string) => Number((await db.$queryRawUnsafe<Array<{ n: unknown }>>(sql))[0].n)
  return {
    executions: await q("SELECT COUNT(*) AS n FROM llm_executions WHERE tenant_id = 'sdk-less'"),
    allExecutions: await q('SELECT COUNT(*) AS n FROM llm_executions'),
    counters: await q('SELECT COUNT(*) AS n FROM llm_budget_counters'),
    counted: await q('SELECT COALESCE(SUM(spent_executions + reserved_executions), 0) AS n FROM llm_budget_counters'),
    holds: await q('SELECT COUNT(*) AS n FROM llm_budget_holds'),
  }
}
const llm = createLlmRuntime(db, {
  providers: { anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-ant-test' }, openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-openai-test' } },
  config: { budgets: { globalDaily: 10, perTenantAgent: { Summarizer: { dailyCost: 1 } } } },
})
const tenant = { id: 'sdk-less', limits: { dailyExecutions: 5 }, enforcement: 'hard' as const }
const before = await count()
let caught: unknown
try {
  await llm.defineAgent({ name: 'Summarizer', provider: 'anthropic', model: 'claude-haiku-4-5' }).run('Summarise this.', { tenant })
} catch (err) {
  caught = err
}
const afterMissing = await count()
const e = caught as MissingProviderSdkError
// Control: the same runtime, tenant and database record an agent whose SDK is installed.
const ok = await llm.defineAgent({ name: 'Summarizer', provider: 'openai', model: 'gpt-4o-mini' }).run('Summarise this.', { tenant })
console.log(JSON.stringify({
  isMissingProviderSdkError: caught instanceof MissingProviderSdkError, name: e?.name, code: e?.code, provider: e?.provider,
  packageName: e?.packageName, installCommand: e?.installCommand, message: e?.message, before, afterMissing,
  afterControl: await count(), controlText: ok.text, requests: emulator.requests.map((r) => r.provider),
}))
await db.$disconnect()
await emulator.close()
`

describe('the README quick start', () => {
  it('has the steps an app developer runs: install, schema, generate, connect, program, run — for each database', () => {
    const blocks = quickStartBlocks()
    for (const variant of ['sqlite', 'postgresql'] as const) {
      const steps = quickStartFor(variant)
      const commands = steps.filter((b) => b.lang === 'sh').flatMap(commandLines)
      expect(commands.some((c) => /^npm install .*\bprisma-llm-tenant\b/.test(c))).toBe(true)
      expect(commands).toContain('npx prisma-llm-tenant generate --schema prisma/schema')
      expect(commands.at(-1)).toBe('npx tsx app.ts')
      expect(steps.map((b) => b.file).filter(Boolean)).toEqual(['prisma/schema/main.prisma', 'prisma/schema/datasource.prisma', 'db.ts', 'app.ts'])
    }
    expect(blocks.filter((b) => b.variant === 'sqlite').flatMap((b) => (b.lang === 'sh' ? commandLines(b) : []))).toEqual([
      'npm install @prisma/adapter-better-sqlite3@7 better-sqlite3@12',
    ])
    expect(blocks.flatMap((b) => (b.lang === 'sh' ? commandLines(b) : [])).join('\n')).not.toContain('@anthropic-ai/sdk')
  })
})

describe('README quick start in an empty folder, from the packed tarball', () => {
  let work: string
  let tarball: string

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'llm-tenant-pack-'))
    tarball = packTarball(work)
  }, 240_000)
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true })
  })

  describe.each(VARIANTS_RUN)('on %s', (variant) => {
    let quickStart: QuickStart | undefined
    let databaseUrl: string | undefined
    const database = `llm_tenant_qs_${randomBytes(5).toString('hex')}`

    beforeAll(async () => {
      if (variant !== 'postgresql') return
      await withPg(POSTGRES_URL!, (c) => c.query(`CREATE DATABASE "${database}"`))
      const url = new URL(POSTGRES_URL!)
      url.pathname = `/${database}`
      databaseUrl = url.toString()
    }, 60_000)
    afterAll(async () => {
      if (quickStart) rmSync(quickStart.app, { recursive: true, force: true })
      if (variant === 'postgresql') await withPg(POSTGRES_URL!, (c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))
    }, 60_000)

    it(
      'runs word for word: answers twice, refuses the third call with its reset time, counts two executions',
      async () => {
        quickStart = runQuickStart(variant, tarball, databaseUrl ? { DATABASE_URL: databaseUrl } : {})
        const { app, runs, output } = quickStart

        // The generate step ran the app's own Prisma CLI without a schema engine (none was downloaded).
        const generate = runs.find((r) => r.command.startsWith('npx prisma-llm-tenant generate'))!
        expect(generate.output).toContain('PRISMA_SCHEMA_ENGINE_BINARY set to a placeholder')
        expect(generate.output).toMatch(/Generated Prisma Client/)
        expect(readdirSync(join(app, 'node_modules/@prisma/engines')).filter((f) => f.startsWith('schema-engine'))).toEqual([])
        expect(existsSync(join(app, 'generated/prisma/client.ts'))).toBe(true)
        // The app installed the SDK it uses, not the other one.
        expect(existsSync(join(app, 'node_modules/openai/package.json'))).toBe(true)
        expect(existsSync(join(app, 'node_modules/@anthropic-ai/sdk'))).toBe(false)

        // What app.ts's comments say it prints.
        const app_ts = quickStartFor(variant).find((b) => b.file === 'app.ts')!.code
        for (const promised of ['Echo: Where is my order? ($0.0000054)', 'acme today: $0.0000123, 40 tokens, 2 executions']) {
          expect(app_ts).toContain(`// ${promised}`)
          expect(output).toContain(promised)
        }
        const answers = [...output.matchAll(/^Echo: (.+) \(\$(\d+\.\d+)\)$/gm)]
        expect(answers.map((m) => m[1])).toEqual(['Where is my order?', 'Can I change the address?'])
        const refused = /^refused: dailyExecutions limit 2, resets (\S+) \(in (\d+) s\)$/m.exec(output)
        expect(refused, output).not.toBeNull()
        const resets = new Date(refused![1])
        expect(resets.getTime()).toBeGreaterThan(Date.now())
        expect(resets.getTime() - Date.now()).toBeLessThanOrEqual(25 * 3600_000)
        expect(Number(refused![2])).toBeGreaterThanOrEqual(1)
        const total = answers.reduce((sum, m) => sum.plus(m[2]), new Decimal(0))
        expect(output).toContain(`acme today: $${total.toFixed()}, 40 tokens, 2 executions`)

        // The ledger: two answers and the refusal, recorded as `refused`.
        expect(await ledgerStatuses(variant, app, databaseUrl)).toEqual({ refused: 1, success: 2 })
      },
      INSTALL_TIMEOUT,
    )

    // The two sections' blocks are SQLite programs: they run in the SQLite app (not skipped in the other).
    if (variant === 'sqlite')
      it("the README's HTTP API and dashboard sections run in the same app, word for word", () => {
        expect(quickStart, 'the quick start ran').toBeDefined()
        const { app, env } = quickStart!
        for (const [section, file, printed] of [
          ['HTTP API for tenants', 'http-api.ts', '200 401'],
          ['Dashboard for operators and tenants', 'dashboard.ts', '200 401 true'],
        ] as const) {
          const blocks = codeBlocks('README.md').filter((b) => b.section === section && b.lang === 'ts')
          expect(blocks, section).toHaveLength(1)
          expect(blocks[0].code, section).toContain(`// ${printed}`)
          writeFileSync(join(app, file), blocks[0].code)
          const out = run(`npx tsx ${file}`, app, env, 120_000).stdout
          expect(out.trim().split('\n').at(-1), section).toBe(printed)
        }
      }, 240_000)

    it('an Anthropic agent without @anthropic-ai/sdk installed rejects with MissingProviderSdkError before admission: no ledger row, no counter row', () => {
      expect(quickStart, 'the quick start ran').toBeDefined()
      const { app, env } = quickStart!
      writeFileSync(join(app, 'missing-sdk.ts'), MISSING_SDK_PROGRAM)
      const out = run('npx tsx missing-sdk.ts', app, env, 120_000).stdout
      const result = JSON.parse(out.trim().split('\n').at(-1)!)
      expect(result).toMatchObject({
        isMissingProviderSdkError: true,
        name: 'MissingProviderSdkError',
        code: 'MISSING_PROVIDER_SDK',
        provider: 'anthropic',
        packageName: '@anthropic-ai/sdk',
        installCommand: 'npm install @anthropic-ai/sdk',
      })
      expect(result.message).toContain('@anthropic-ai/sdk')
      expect(result.message).toContain('npm install @anthropic-ai/sdk')
      expect(result.message).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find package/)
      // Nothing admitted or recorded: no ledger row (not even a refusal), no counter row.
      expect(result.before.executions).toBe(0)
      expect(result.afterMissing).toEqual(result.before)
      // The control run through the installed SDK is admitted and recorded (rows, counters).
      expect(result.controlText).toBe('Echo: Summarise this.')
      expect(result.afterControl.executions).toBe(1)
      expect(result.afterControl.allExecutions).toBe(result.before.allExecutions + 1)
      expect(result.afterControl.counters).toBeGreaterThan(result.before.counters)
      expect(result.afterControl.counted).toBeGreaterThan(result.before.counted)
      expect(result.afterControl.holds).toBe(0)
      expect(result.requests).toEqual(['openai'])
    }, 120_000)
  })
})
