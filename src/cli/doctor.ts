/**
 * The database's health: `doctor` checks it, `refresh-counters` and `release-holds` repair what the
 * budget layer keeps (cron jobs and incidents).
 *
 * `doctor` is read-only: one line per finding with its fix; exit 1 when anything is wrong.
 * - schema drift against the shipped DDL, missing and obsolete indexes (doctor-schema.ts);
 * - PostgreSQL: autovacuum off (globally, by `track_counts = off`, or on one of the library's
 *   tables) — the counter and rate-limit rows are updated on every call and bloat without it;
 * - SQLite: not in WAL mode — readers then block the writer (and the other way round);
 * - clock skew between this machine (where the command runs: run it where the app runs) and the
 *   database: PostgreSQL decides rate limits on its own clock, budgets use the app's, so the two
 *   must agree. Measured as the database's clock minus the midpoint of the query's round trip.
 *
 * `refresh-counters [--tenant]` recomputes the budget counters from the ledger and the open holds
 * (LlmBudgets.refreshCounters: each bucket in its own transaction, safe while the app runs); run it
 * with the app's `--time-zone`, day and month buckets are zone-local. `release-holds` releases the
 * holds of crashed holders whose expiry has passed (LlmBudgets.releaseExpiredHolds): their `running`
 * rows become `timeout`, counted once; under `--hold-expiry charge` (the app's config.holdExpiry)
 * the reservation is charged.
 */
import { Option, type Command } from 'commander'
import { LlmBudgets } from '../budget/budgets.js'
import type { RawRunner, SqlProvider } from '../db/client.js'
import { action, dbOptions, type CliContext, configFrom, HOLD_EXPIRY_CHOICES, parseCount, parseId, type DbFlags } from './command.js'
import { withConnection } from './connect.js'
import { compareSchema, expectedSchema, readCatalog, type Finding } from './doctor-schema.js'
import { EXIT_FAILURE, EXIT_OK } from './errors.js'
import { writeJson } from './io.js'

interface DoctorOptions extends DbFlags {
  maxSkewMs?: string
}

async function autovacuum(db: RawRunner): Promise<Finding[]> {
  const [settings] = (await db.$queryRawUnsafe(
    `SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts`,
  )) as Array<{ autovacuum: string; track_counts: string }>
  const findings: Finding[] = []
  if (settings.autovacuum !== 'on') {
    findings.push({
      check: 'autovacuum',
      ok: false,
      message: 'autovacuum is off on this server',
      fix: 'ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();',
    })
  }
  if (settings.track_counts !== 'on') {
    findings.push({
      check: 'autovacuum',
      ok: false,
      message: 'track_counts is off: autovacuum cannot tell which tables need it',
      fix: 'ALTER SYSTEM SET track_counts = on; SELECT pg_reload_conf();',
    })
  }
  const tables = (await db.$queryRawUnsafe(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relname LIKE 'llm\\_%' AND c.reloptions::text LIKE '%autovacuum_enabled=false%'
      ORDER BY c.relname`,
  )) as Array<{ name: string }>
  for (const { name } of tables) {
    findings.push({
      check: 'autovacuum',
      ok: false,
      message: `autovacuum is disabled on table ${name}`,
      fix: `ALTER TABLE "${name}" RESET (autovacuum_enabled);`,
    })
  }
  if (findings.length === 0) findings.push({ check: 'autovacuum', ok: true, message: 'autovacuum is on' })
  return findings
}

async function journalMode(db: RawRunner, location: string): Promise<Finding> {
  const [row] = (await db.$queryRawUnsafe('PRAGMA journal_mode')) as Array<{ journal_mode: string }>
  const mode = String(row?.journal_mode ?? 'unknown').toLowerCase()
  if (mode === 'wal') return { check: 'journal_mode', ok: true, message: 'SQLite is in WAL mode' }
  return {
    check: 'journal_mode',
    ok: false,
    message: `SQLite journal_mode is ${mode}, not WAL: readers and the writer block each other`,
    fix: `sqlite3 ${JSON.stringify(location)} 'PRAGMA journal_mode=WAL;'   (once: it is kept in the file)`,
  }
}

/** The database clock minus this machine's, from the best of a few round trips. */
async function clockSkew(db: RawRunner, provider: SqlProvider, maxSkewMs: number): Promise<Finding> {
  const sql =
    provider === 'postgresql'
      ? 'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms'
      : "SELECT CAST(round((julianday('now') - 2440587.5) * 86400000) AS TEXT) AS ms"
  await db.$queryRawUnsafe(sql) // connection set-up is not part of the measurement
  let best: { skew: number; rtt: number } | undefined
  for (let i = 0; i < 3; i++) {
    const before = Date.now()
    const [row] = (await db.$queryRawUnsafe(sql)) as Array<{ ms: string }>
    const after = Date.now()
    const sample = { skew: Number(row.ms) - (before + after) / 2, rtt: after - before }
    if (!best || sample.rtt < best.rtt) best = sample
  }
  const { skew, rtt } = best as { skew: number; rtt: number }
  const rounded = Math.round(skew)
  const side = rounded === 0 ? '' : rounded > 0 ? ' (the database is ahead)' : ' (the database is behind)'
  const message = `clock skew between this machine and the database: ${Math.abs(rounded)} ms${side}, ±${Math.ceil(rtt / 2)} ms; at most ${maxSkewMs} ms allowed`
  if (Math.abs(skew) - rtt / 2 <= maxSkewMs) return { check: 'clock', ok: true, message }
  return {
    check: 'clock',
    ok: false,
    message,
    fix: 'synchronise both clocks with NTP (e.g. `timedatectl set-ntp true`, chrony) — rate limits use the database clock, budgets the app clock',
  }
}

export function registerDoctor(program: Command, ctx: CliContext): void {
  dbOptions(
    program
      .command('doctor')
      .summary('Check the database: schema drift, indexes, autovacuum / WAL, clock skew')
      .description('Checks the database DATABASE_URL names (read-only); one line per finding with its fix. Exits 1 when a check fails.')
      .option('--max-skew-ms <ms>', 'the largest clock skew that passes (default 1000)'),
  ).action(
    action<DoctorOptions>(ctx, async (options) => {
      const maxSkewMs = parseCount(options.maxSkewMs, '--max-skew-ms', 1000, 3_600_000)
      const { findings, provider, location } = await withConnection(options, ctx.io, async ({ client, provider, location }) => {
        const catalog = await readCatalog(client, provider)
        const found = compareSchema(provider, expectedSchema(provider), catalog)
        if (provider === 'postgresql') found.push(...(await autovacuum(client)))
        else found.push(await journalMode(client, location))
        found.push(await clockSkew(client, provider, maxSkewMs))
        return { findings: found, provider, location }
      })
      const ok = findings.every((f) => f.ok)
      if (options.json) writeJson(ctx.io, { ok, provider, database: location, findings })
      else {
        ctx.io.stdout(`${provider} ${location}\n`)
        for (const f of findings) ctx.io.stdout(`${f.ok ? '✓' : '✗'} ${f.message}${f.fix ? ` — fix: ${f.fix}` : ''}\n`)
        ctx.io.stdout(ok ? 'No problems found.\n' : `${findings.filter((f) => !f.ok).length} problem(s) found.\n`)
      }
      return ok ? EXIT_OK : EXIT_FAILURE
    }),
  )
}

export function registerMaintenance(program: Command, ctx: CliContext): void {
  const { io } = ctx
  dbOptions(
    program
      .command('refresh-counters')
      .summary('Recompute the budget counters from the ledger and the open holds')
      .description("Corrects every counter row (or one tenant's) to what the ledger and the open holds say; safe while the app runs.")
      .option('--tenant <tenantId>', 'only this tenant (default: every counter)'),
  ).action(
    action<DbFlags & { tenant?: string }>(ctx, async (options) => {
      const config = configFrom(options, io)
      const tenantId = options.tenant === undefined ? undefined : parseId(options.tenant, '--tenant')
      const started = Date.now()
      const result = await withConnection(options, io, ({ client }) =>
        new LlmBudgets(client, config).refreshCounters(tenantId === undefined ? {} : { tenantId }),
      )
      const ms = Date.now() - started
      if (options.json) return writeJson(io, { tenantId: tenantId ?? null, timeZone: config.timeZone, ...result, ms })
      io.stdout(
        `Refreshed ${result.rows} counter row(s)${tenantId ? ` of tenant ${tenantId}` : ''}: ${result.changed} corrected, in ${ms} ms (buckets in ${config.timeZone}).\n`,
      )
    }),
  )

  dbOptions(
    program
      .command('release-holds')
      .summary('Release the expired holds of crashed callers')
      .description('Their running ledger rows become timeouts (counted once); the reservation is voided, or charged with --hold-expiry charge.')
      .addOption(new Option('--hold-expiry <mode>', "your app's config.holdExpiry (default release)").choices(HOLD_EXPIRY_CHOICES)),
  ).action(
    action<DbFlags & { holdExpiry?: (typeof HOLD_EXPIRY_CHOICES)[number] }>(ctx, async (options) => {
      const holdExpiry = options.holdExpiry ?? 'release'
      const config = configFrom(options, io, { holdExpiry })
      const released = await withConnection(options, io, ({ client }) => new LlmBudgets(client, config).releaseExpiredHolds())
      if (options.json) return writeJson(io, { released, holdExpiry })
      io.stdout(
        released === 0
          ? 'No expired holds.\n'
          : `Released ${released} expired hold(s) (${holdExpiry === 'charge' ? 'reservations charged' : 'reservations voided'}).\n`,
      )
    }),
  )
}
