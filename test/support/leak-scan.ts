/**
 * Secret-leak scanning for tests: capture everything a run could expose (console and raw
 * stdout/stderr, thrown errors with their cause chains, serialized results, events, every table of
 * the library) as text "haystacks", then search them for each secret and for each secret's tail.
 */
import { inspect } from 'node:util'
import type { TestDatabase } from './databases.ts'

export type Haystack = [where: string, text: string]

const bigintSafe = (_k: string, v: unknown) => (typeof v === 'bigint' ? String(v) : v)

/** JSON (bigint-safe; '(unserializable)' on cycles) plus util.inspect with unlimited depth and hidden properties. */
export function render(value: unknown): string {
  let json: string
  try {
    json = JSON.stringify(value, bigintSafe) ?? 'undefined'
  } catch (err) {
    json = `(unserializable: ${(err as Error).message})`
  }
  return `${json}\n${inspect(value, { depth: Infinity, showHidden: true, getters: true, maxArrayLength: Infinity, maxStringLength: Infinity })}`
}

/** An error as a user would see it: String(), JSON, inspect, stack — and the same for every cause, aggregate member and attempt. */
export function renderError(err: unknown, seen = new Set<unknown>()): string {
  if (seen.has(err)) return ''
  seen.add(err)
  const parts = [String(err), render(err)]
  if (err && typeof err === 'object') {
    const e = err as { stack?: unknown; cause?: unknown; errors?: unknown }
    if (typeof e.stack === 'string') parts.push(e.stack)
    if (e.cause !== undefined) parts.push(`cause: ${renderError(e.cause, seen)}`)
    if (Array.isArray(e.errors)) for (const inner of e.errors) parts.push(`member: ${renderError(inner, seen)}`)
  }
  return parts.join('\n')
}

/** Captures console.* and raw process.stdout / process.stderr writes (still passed through) until restored. */
export function captureOutput(): { text(): string; restore(): void } {
  const lines: string[] = []
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const
  const savedConsole = methods.map((m) => console[m])
  for (const m of methods) {
    console[m] = (...args: unknown[]) => void lines.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: Infinity }))).join(' '))
  }
  const streams = [process.stdout, process.stderr]
  const savedWrites = streams.map((s) => s.write)
  streams.forEach((s, i) => {
    s.write = ((chunk: unknown, ...rest: unknown[]) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
      return (savedWrites[i] as (...a: unknown[]) => boolean).call(s, chunk, ...rest)
    }) as typeof s.write
  })
  return {
    text: () => lines.join('\n'),
    restore: () => {
      methods.forEach((m, i) => (console[m] = savedConsole[i] as never))
      streams.forEach((s, i) => (s.write = savedWrites[i]))
    },
  }
}

/** Every table of the library (llm_*), discovered from the catalog, each as `SELECT *` in JSON. */
export async function dumpLibraryTables(db: TestDatabase, label = ''): Promise<Haystack[]> {
  const tables =
    db.kind === 'sqlite'
      ? await db.rawQuery<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'llm\\_%' ESCAPE '\\'`)
      : await db.rawQuery<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'llm\\_%'`, [
          db.location,
        ])
  const out: Haystack[] = []
  for (const { name } of tables) out.push([`${label}table ${name}`, JSON.stringify(await db.rawQuery(`SELECT * FROM "${name}"`), bigintSafe)])
  return out
}

export interface ScanResult {
  secrets: number
  searches: number
  bytes: number
  hits: Array<{ needle: string; where: string; excerpt: string }>
}

/** Searches every haystack for every secret and for its last `tail` characters (and its last 12, 16, …). */
export function scanForSecrets(secrets: readonly string[], haystacks: readonly Haystack[], tails: readonly number[] = [8, 12]): ScanResult {
  const result: ScanResult = { secrets: secrets.length, searches: 0, bytes: haystacks.reduce((n, [, t]) => n + Buffer.byteLength(t), 0), hits: [] }
  for (const secret of secrets) {
    const needles = [secret, ...tails.filter((n) => n < secret.length).map((n) => secret.slice(-n))]
    for (const needle of needles) {
      for (const [where, text] of haystacks) {
        result.searches++
        const at = text.indexOf(needle)
        if (at >= 0) result.hits.push({ needle, where, excerpt: text.slice(Math.max(0, at - 200), at + needle.length + 60) })
      }
    }
  }
  return result
}
