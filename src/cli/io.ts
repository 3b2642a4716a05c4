/**
 * Where the command writes, and how it renders results: JSON for scripts (`--json`, one document on
 * stdout), aligned tables for people, CSV for spreadsheets, unified diffs for `init --dry-run`.
 * Money is always the exact decimal text of the ledger (a `Decimal`'s `toFixed()`), never a float;
 * instants are ISO-8601 UTC.
 */
import { Decimal } from '../foundation/money.js'

/** What a command reads and writes; tests and the bin pass the process's. */
export interface Io {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stderr is a terminal (progress bars, colours are only for people). */
  isTty: boolean
}

export function processIo(): Io {
  return {
    cwd: process.cwd(),
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTty: process.stderr.isTTY === true,
  }
}

/** A value as JSON can carry it exactly: Decimal and bigint as text, Date as ISO text. */
function toPlain(value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Date) return value.toISOString()
  if (Decimal.isDecimal(value)) return (value as Decimal).toFixed()
  if (Array.isArray(value)) return value.map(toPlain)
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toPlain(v)]))
  }
  return value
}

export function writeJson(io: Io, value: unknown): void {
  io.stdout(`${JSON.stringify(toPlain(value), null, 2)}\n`)
}

/** One cell's text. */
function cell(value: unknown): string {
  const plain = toPlain(value)
  if (plain === null) return ''
  if (typeof plain === 'object') return JSON.stringify(plain)
  return String(plain)
}

export interface Column<Row> {
  header: string
  value: (row: Row) => unknown
  /** Right-align (numbers, money). */
  numeric?: boolean
}

/** An aligned text table (headers, then one line per row); `empty` when there are no rows. */
export function renderTable<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, empty = '(none)'): string {
  if (rows.length === 0) return `${empty}\n`
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i].numeric ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')}\n`
}

/** RFC 4180 CSV: a header line, then the rows; fields quoted when they need it. */
function renderCsv<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>): string {
  const field = (text: string) => (/[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text)
  const lines = [columns.map((c) => field(c.header)), ...rows.map((row) => columns.map((c) => field(cell(c.value(row)))))]
  return `${lines.map((l) => l.join(',')).join('\r\n')}\r\n`
}

/** `key: value` lines, aligned, for one record. */
export function renderFields(fields: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(...fields.map(([k]) => k.length))
  return `${fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`.trimEnd()).join('\n')}\n`
}

export type OutputFormat = 'table' | 'csv' | 'json'

/** Writes rows in the chosen format (JSON: the `json` value, which may carry more than the rows). */
export function writeRows<Row>(io: Io, format: OutputFormat, rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, json: unknown = rows): void {
  if (format === 'json') writeJson(io, json)
  else if (format === 'csv') io.stdout(renderCsv(rows, columns))
  else io.stdout(renderTable(rows, columns))
}

// Unified diffs (`init --dry-run`): the format `git diff` and `patch` read — `--- a/path` / `+++ b/path`
// headers and `@@` hunks with three lines of context, aligned by a longest common subsequence of the
// lines (schema files are small: a few thousand lines at most).

type Op = { kind: ' ' | '-' | '+'; line: string }

function splitLines(text: string): string[] {
  if (text === '') return []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

/** The edit script from `a` to `b` (common lines kept, removals before additions). */
function editScript(a: string[], b: string[]): Op[] {
  // Trim the common head and tail first: most edits are appends or a few replaced blocks.
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  const x = a.slice(head, a.length - tail)
  const y = b.slice(head, b.length - tail)
  const lcs: Uint32Array[] = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1))
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: ' ', line }))
  let i = 0
  let j = 0
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      ops.push({ kind: ' ', line: x[i++] })
      j++
    } else if (j >= y.length || (i < x.length && lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ kind: '-', line: x[i++] })
    else ops.push({ kind: '+', line: y[j++] })
  }
  for (const line of a.slice(a.length - tail)) ops.push({ kind: ' ', line })
  return ops
}

/** A unified diff from `before` (null: the file does not exist) to `after`; '' when they are equal. */
export function unifiedDiff(path: string, before: string | null, after: string, context = 3): string {
  if (before === after) return ''
  const ops = editScript(splitLines(before ?? ''), splitLines(after))
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0)
  const hunks: Array<[number, number]> = []
  for (const index of changed) {
    const start = Math.max(0, index - context)
    const end = Math.min(ops.length, index + context + 1)
    const last = hunks.at(-1)
    if (last && start <= last[1]) last[1] = Math.max(last[1], end)
    else hunks.push([start, end])
  }
  const out = [`--- ${before === null ? '/dev/null' : `a/${path}`}`, `+++ b/${path}`]
  for (const [start, end] of hunks) {
    const oldStart = ops.slice(0, start).filter((op) => op.kind !== '+').length
    const newStart = ops.slice(0, start).filter((op) => op.kind !== '-').length
    const body = ops.slice(start, end)
    const oldLen = body.filter((op) => op.kind !== '+').length
    const newLen = body.filter((op) => op.kind !== '-').length
    out.push(`@@ -${oldLen === 0 ? oldStart : oldStart + 1},${oldLen} +${newLen === 0 ? newStart : newStart + 1},${newLen} @@`)
    for (const op of body) out.push(`${op.kind}${op.line}`)
  }
  return `${out.join('\n')}\n`
}
