/**
 * What every subcommand shares: the options of database commands and the checks of their values,
 * the action wrapper that turns a handler's result or error into the exit code (printing errors
 * once, safely), and the actor admin changes are recorded under (`{ type: 'cli', id: <OS user
 * name> }` in the audit log).
 *
 * Flag values are checked before the command reads or writes anything: a value outside what a flag
 * allows is a UsageError (exit 2) naming the flag and the values it takes. Enumerations (`--by`,
 * `--format`, `--provider`, …) are checked by commander's `choices` with the same effect.
 *
 * Periods are the ledger's (PERIOD_NAMES, in the configured zone) plus what people type at a shell:
 * a month `2026-05`, a day `2026-05-14`, or a range `2026-05-01..2026-05-15` (zone-local days, the
 * end day included) — each resolved to the half-open instant range in the zone.
 */
import { existsSync, readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { resolve } from 'node:path'
import { parseEnv } from 'node:util'
import { Option, type Command } from 'commander'
import { withActor } from '../audit/actor.js'
import { defineLlmConfig, type LlmConfig } from '../config/config.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { PERIOD_NAMES, validateTimeZone, type PeriodInput } from '../foundation/periods.js'
import { parseGracePeriod } from '../keys/api-keys.js'
import { bucketRange } from '../ledger/counters/keys.js'
import { EXIT_OK, reportError, UsageError, type ErrorReport } from './errors.js'
import type { Io } from './io.js'

export const PROVIDER_CHOICES = ['sqlite', 'postgresql'] as const
export const FORMAT_CHOICES = ['table', 'csv', 'json'] as const
export const BY_CHOICES = ['agent', 'model', 'day', 'key'] as const
export const HOLD_EXPIRY_CHOICES = ['release', 'charge'] as const

const PERIOD_ALLOWED = `${PERIOD_NAMES.join(', ')}, a month YYYY-MM, a day YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD`
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/
const MONTH = /^(\d{4})-(\d{2})$/

function validDay(text: string): boolean {
  const m = DAY.exec(text)
  if (!m) return false
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const date = new Date(Date.UTC(y, mo - 1, d))
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d
}

function validMonth(text: string): boolean {
  const m = MONTH.exec(text)
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 12 && Number(m[1]) >= 1970
}

const nextDay = (day: string): string => {
  const [y, m, d] = day.split('-').map(Number)
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10)
}

/** A period flag: a ledger period name, or a month / day / day range in the configured zone. */
export function parsePeriod(value: string | undefined, config: LlmConfig, flag = '--period', fallback: PeriodInput = 'this_month'): PeriodInput {
  if (value === undefined) return fallback
  if ((PERIOD_NAMES as readonly string[]).includes(value)) return value as PeriodInput
  if (validMonth(value)) return bucketRange('month', value, config.timeZone)
  if (validDay(value)) return bucketRange('day', value, config.timeZone)
  const range = /^(\S+)\.\.(\S+)$/.exec(value)
  if (range && validDay(range[1]) && validDay(range[2]) && range[1] <= range[2]) {
    return { from: bucketRange('day', range[1], config.timeZone).from, to: bucketRange('day', nextDay(range[2]), config.timeZone).from }
  }
  throw new UsageError(flag, PERIOD_ALLOWED, value)
}

/** A month flag (`YYYY-MM`): a real month, not after the current one in the zone. */
export function parseMonth(value: string | undefined, config: LlmConfig, flag = '--month'): string {
  const allowed = 'a month YYYY-MM (01–12), not in the future'
  if (value === undefined) throw new UsageError(flag, allowed)
  if (!validMonth(value)) throw new UsageError(flag, allowed, value)
  if (bucketRange('month', value, config.timeZone).from.getTime() > config.now().getTime()) throw new UsageError(flag, allowed, value)
  return value
}

/** A positive integer flag of at most `max`. */
export function parseCount(value: string | undefined, flag: string, fallback: number, max: number): number {
  if (value === undefined) return fallback
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1 || Number(value) > max) throw new UsageError(flag, `an integer from 1 to ${max}`, value)
  return Number(value)
}

/** An identifier flag (tenant id, key id, key name): non-empty, at most `max` characters. */
export function parseId(value: string | undefined, flag: string, max = 191): string {
  if (value === undefined) throw new UsageError(flag, `a non-empty id of at most ${max} characters`)
  if (value.trim() === '' || value.length > max) throw new UsageError(flag, `a non-empty id of at most ${max} characters`, value)
  return value
}

/** A grace period flag: milliseconds or '90s', '15m', '24h', '7d' (at most 30 days). */
export function parseGrace(value: string | undefined, flag = '--grace'): number {
  if (value === undefined) return 0
  try {
    return parseGracePeriod(/^\d+$/.test(value) ? Number(value) : value, flag)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(flag, err.allowed, value)
    throw err
  }
}

/** An instant flag: an ISO-8601 date or date-time, in the future when `future`. */
export function parseInstant(value: string | undefined, flag: string, now: Date, future = false): Date | undefined {
  if (value === undefined) return undefined
  const allowed = `an ISO-8601 date or date-time such as 2027-01-31 or 2027-01-31T12:00:00Z${future ? ', in the future' : ''}`
  const date = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN)
  if (Number.isNaN(date.getTime()) || (future && date.getTime() <= now.getTime())) throw new UsageError(flag, allowed, value)
  return date
}

/** The options every database command takes. */
export interface DbFlags {
  provider?: (typeof PROVIDER_CHOICES)[number]
  timeZone?: string
  weekStartsOn?: string
  envFile?: string
  json?: boolean
}

/** The environment the command sees: the process's, over the `--env-file` file's (like dotenv). */
export function environment(flags: DbFlags, io: Io): NodeJS.ProcessEnv {
  if (flags.envFile === undefined) return io.env
  const path = resolve(io.cwd, flags.envFile)
  if (!existsSync(path)) throw new UsageError('--env-file', 'the path of an existing .env file', flags.envFile)
  // Like dotenv: variables already set in the environment win over the file's.
  return { ...parseEnv(readFileSync(path, 'utf8')), ...io.env }
}

/** The library config the command runs with: the app's time zone and week start (flags or env). */
export function configFrom(flags: DbFlags, io: Io, extra: { holdExpiry?: 'release' | 'charge' } = {}): LlmConfig {
  const env = environment(flags, io)
  const zone = flags.timeZone ?? env.LLM_TENANT_TIME_ZONE ?? 'UTC'
  const zoneFlag = flags.timeZone !== undefined ? '--time-zone' : 'LLM_TENANT_TIME_ZONE'
  try {
    validateTimeZone(zone, zoneFlag)
  } catch {
    throw new UsageError(zoneFlag, 'an IANA time zone name such as UTC or Europe/Berlin', zone)
  }
  const week = flags.weekStartsOn ?? env.LLM_TENANT_WEEK_STARTS_ON ?? '1'
  const weekFlag = flags.weekStartsOn !== undefined ? '--week-starts-on' : 'LLM_TENANT_WEEK_STARTS_ON'
  if (!/^[0-6]$/.test(week)) throw new UsageError(weekFlag, 'an integer 0-6 (0 = Sunday, 1 = Monday)', week)
  return defineLlmConfig({ timeZone: zone, weekStartsOn: Number(week), refusalBackoffMs: 0, ...extra })
}

/** The output format: `--json` wins; `--format` otherwise (default table). Both, disagreeing: bad usage. */
export function formatFrom(flags: { json?: boolean; format?: (typeof FORMAT_CHOICES)[number] }): (typeof FORMAT_CHOICES)[number] {
  if (flags.json && flags.format !== undefined && flags.format !== 'json') throw new UsageError('--format', 'json (or leave it out) with --json', flags.format)
  return flags.json ? 'json' : (flags.format ?? 'table')
}

/** Where subcommands write and how they report their exit code. */
export interface CliContext {
  io: Io
  /** Records the exit code of the command that ran. */
  exit(code: number): void
}

/** The `--json` option every command (but `generate`) takes. */
export function jsonOption(command: Command): Command {
  return command.option('--json', 'print the result as one JSON document (for scripts)')
}

/** Options of every command that opens the database. */
export function dbOptions(command: Command): Command {
  return jsonOption(
    command
      .addOption(new Option('--provider <provider>', 'the database provider (default: from the DATABASE_URL scheme)').choices(PROVIDER_CHOICES))
      .option('--env-file <path>', 'read DATABASE_URL (and LLM_TENANT_*) from this .env file; the environment wins')
      .option('--time-zone <zone>', "your app's config.timeZone: periods and buckets are in this zone (default: LLM_TENANT_TIME_ZONE or UTC)")
      .option('--week-starts-on <day>', "your app's config.weekStartsOn, 0-6 (default: LLM_TENANT_WEEK_STARTS_ON or 1)"),
  )
}

/** The actor of the command's admin changes. */
function cliActor(): { type: string; id: string | null } {
  let id: string | null = null
  try {
    id = userInfo().username || null
  } catch {
    // no user name (some containers): the change is still attributed to the CLI
  }
  return { type: 'cli', id: id && id.length <= 191 ? id : null }
}

/** Runs `fn` with the CLI as the author of every admin change it makes. */
export function asCliActor<T>(fn: () => Promise<T>): Promise<T> {
  return withActor(cliActor(), fn)
}

/** Prints an error once, safely: a line (and its fix) for people, a JSON object with `--json`. */
export function printError(io: Io, command: string, report: ErrorReport, json: boolean): void {
  if (json) {
    const { exitCode, ...error } = report
    io.stderr(`${JSON.stringify({ error: { ...error, exitCode } })}\n`)
    return
  }
  const prefix = command ? `prisma-llm-tenant ${command}` : 'prisma-llm-tenant'
  io.stderr(`${prefix}: ${report.message}\n${report.fix ? `  fix: ${report.fix}\n` : ''}`)
}

/** The command's full name (`keys create`). */
function commandPath(command: Command): string {
  const names: string[] = []
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * An action for commander: calls `handler(options, positional arguments, command)` and records its
 * exit code (the number it returns; 0 when it returns anything else); an error is printed and recorded as 1 or 2 (errors.ts).
 */
export function action<Options extends { json?: boolean }>(
  ctx: CliContext,
  handler: (options: Options, args: string[], command: Command) => unknown,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command
    const options = command.opts<Options>()
    const positional = args.slice(0, -2).flatMap((a) => (Array.isArray(a) ? a : a === undefined ? [] : [a])) as string[]
    try {
      const code = await handler(options, positional, command)
      ctx.exit(typeof code === 'number' ? code : EXIT_OK)
    } catch (err) {
      const report = reportError(err)
      printError(ctx.io, commandPath(command), report, options.json === true)
      ctx.exit(report.exitCode)
    }
  }
}
