/**
 * Running the BUILT command as an app does: `node bin/prisma-llm-tenant.mjs …` (which runs
 * dist/cli/, compiled by `npm run build`, on the package's own Prisma client in generated/cli/,
 * built by `npm run generate`), in a child process, with DATABASE_URL naming a test database — a
 * SQLite file, or an isolated PostgreSQL schema (`?schema=`). Stale builds fail loudly instead of
 * testing old code.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pkg from '../../package.json' with { type: 'json' }
import { POSTGRES_URL, type TestDatabase } from '../support/databases.ts'

export const root = new URL('../..', import.meta.url).pathname
export const bin = join(root, pkg.bin['prisma-llm-tenant'])

/** Throws unless dist/cli and generated/cli are at least as new as their sources. */
export function assertBuilt(): void {
  const main = join(root, 'dist/cli/main.js')
  if (!existsSync(main) || !existsSync(join(root, 'generated/cli/sqlite/client.js'))) {
    throw new Error('the CLI is not built: run `npm run generate && npm run build` (npm test does)')
  }
  const built = statSync(main).mtimeMs
  const stale = readdirSync(join(root, 'src/cli')).filter((f) => statSync(join(root, 'src/cli', f)).mtimeMs > built + 1000)
  if (stale.length > 0) throw new Error(`dist/cli is older than src/cli/${stale.join(', src/cli/')}: run \`npm run build\``)
}

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** The environment of every run: this process's, without DATABASE_URL and the CLI's own variables. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'DATABASE_URL' || key.startsWith('LLM_TENANT_')) continue
    env[key] = value
  }
  return env
}

/** Runs the built command (or the bin at `binPath`); resolves with its exit code and output. */
export function cli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; binPath?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.binPath ?? bin, ...args], {
      cwd: options.cwd ?? root,
      env: { ...baseEnv(), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/**
 * The built command run in this process — `main()` of dist/cli/main.js with its output captured —
 * for large matrices of invocations that exit before any I/O (bad flag values): the same code as
 * the bin runs, without a process (and a Prisma engine start) per case.
 */
export async function runBuilt(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const { main } = (await import(join(root, 'dist/cli/main.js'))) as { main: (argv: readonly string[], io: unknown) => Promise<number> }
  let stdout = ''
  let stderr = ''
  const io = { cwd: root, env: { ...baseEnv(), ...env }, stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t), isTty: false }
  const status = await main(args, io)
  return { status, stdout, stderr }
}

/** DATABASE_URL for a test database: `file:<path>`, or the PostgreSQL URL with `?schema=<schema>`. */
export function databaseUrl(db: TestDatabase): string {
  if (db.kind === 'sqlite') return `file:${db.location}`
  const url = new URL(POSTGRES_URL as string)
  url.searchParams.set('schema', db.location)
  return url.toString()
}

/** `cli` against a test database. */
export function cliOn(db: TestDatabase, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return cli(args, { env: { DATABASE_URL: databaseUrl(db), ...env } })
}

/** Parses a run's stdout as JSON (failing with its output when it is not). */
export function json<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`)
  }
}

/** Row counts of the tables a command could write (for "wrote nothing" checks). */
export async function counts(db: TestDatabase, tables: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of tables) out[t] = Number((await db.rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${t}`))[0].n)
  return out
}

/** `fn` over `items`, at most `limit` at a time (each run is a process); results in order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
