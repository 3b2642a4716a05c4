/**
 * Bad usage of the built `prisma-llm-tenant`, on SQLite and PostgreSQL: every wrong flag value
 * exits 2 with a message naming the flag and the values it takes — and writes nothing (the row
 * counts of every table a command could write are the same afterwards). Secrets never reach the
 * output of a failure: not the DATABASE_URL password, not a key-shaped value given where an id
 * belongs, not the pepper.
 *
 * The matrix of flag values runs the built `main()` in this process (runBuilt: the code the bin
 * runs, without a process per case); the other cases spawn the bin.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { assertBuilt, type CliResult, cli, cliOn, counts, databaseUrl, inParallel, runBuilt } from './support.ts'

const TABLES = ['llm_tenants', 'llm_api_keys', 'llm_audit_events', 'llm_executions', 'llm_budget_counters', 'llm_budget_holds', 'llm_invoices']
const CHOICES = (flag: string, value: string, allowed: string) => `option "${flag}" argument "${value}" is invalid. Allowed choices are ${allowed}.`
const PEPPER = { LLM_TENANT_API_KEY_PEPPER: 'a-pepper-for-the-cli-tests-0123456' }

/** [arguments, what stderr names, extra environment]. */
const CASES: Array<[string[], string | RegExp, NodeJS.ProcessEnv?]> = [
  [['usage', '--by', 'tenant'], CHOICES('--by <group>', 'tenant', 'agent, model, day, key')],
  [['usage', '--format', 'xml'], CHOICES('--format <format>', 'xml', 'table, csv, json')],
  [
    ['usage', '--period', '2026-13'],
    /--period: "2026-13" is not allowed; expected today, yesterday, this_week, last_week, this_month, last_month, a month YYYY-MM/,
  ],
  [['usage', '--period', 'May'], '--period: "May" is not allowed'],
  [['usage', '--period', '2026-05-10..2026-05-01'], '--period: "2026-05-10..2026-05-01" is not allowed'],
  [['usage', '--period', '2026-02-30'], '--period: "2026-02-30" is not allowed'],
  [['usage', '--json', '--format', 'csv'], '--format: "csv" is not allowed; expected json (or leave it out) with --json'],
  [['usage', '--time-zone', 'Mars/Olympus'], '--time-zone: "Mars/Olympus" is not allowed; expected an IANA time zone name'],
  [['usage'], 'LLM_TENANT_TIME_ZONE: "Nowhere" is not allowed', { LLM_TENANT_TIME_ZONE: 'Nowhere' }],
  [['usage', '--week-starts-on', '7'], '--week-starts-on: "7" is not allowed; expected an integer 0-6'],
  [['usage', '--tenant', ''], '--tenant: "" is not allowed'],
  [['usage', '--bogus'], 'unknown option "--bogus"'],
  [['top', '--limit', '0'], '--limit: "0" is not allowed; expected an integer from 1 to 10000'],
  [['top', '--limit', 'ten'], '--limit: "ten" is not allowed'],
  [['tenants', 'list', '--status', 'gone'], CHOICES('--status <status>', 'gone', 'active, inactive, all')],
  [['tenants', 'list', '--limit', '5000'], '--limit: "5000" is not allowed; expected an integer from 1 to 1000'],
  [['tenants', 'show'], 'missing required argument "tenantId"'],
  [['tenants'], /Usage: prisma-llm-tenant tenants/],
  [['keys', 'create', '--tenant', 'acme'], 'required option "--name <name>" not specified'],
  [['keys', 'create', '--tenant', 'acme', '--name', 'x', '--expires-at', 'tomorrow'], '--expires-at: "tomorrow" is not allowed; expected an ISO-8601 date'],
  [['keys', 'create', '--tenant', 'acme', '--name', 'x', '--expires-at', '2020-01-01'], '--expires-at: "2020-01-01" is not allowed'],
  [['keys', 'create', '--tenant', 'acme', '--name', 'x', '--prefix', 'Live_Key'], '--prefix: "Live_Key" is not allowed'],
  [['keys', 'create', '--tenant', 'acme', '--name', 'x'.repeat(101)], '--name: "xxxxxxxx'],
  [['keys', 'rotate', 'some-id', '--grace', '3y'], /--grace: "3y" is not allowed; expected milliseconds .* or a duration such as '15m', '24h', '7d'/],
  [['keys', 'rotate', 'some-id', '--grace', '31d'], '--grace: "31d" is not allowed'],
  [['release-holds', '--hold-expiry', 'bill'], CHOICES('--hold-expiry <mode>', 'bill', 'release, charge')],
  [['refresh-counters', '--tenant', ''], '--tenant: "" is not allowed'],
  [['invoices', 'generate'], '--month: required; expected a month YYYY-MM (01–12), not in the future'],
  [['invoices', 'generate', '--month', '2026-13'], '--month: "2026-13" is not allowed; expected a month YYYY-MM (01–12), not in the future'],
  [['invoices', 'generate', '--month', '2999-01'], '--month: "2999-01" is not allowed'],
  [['invoices', 'generate', '--month', '2026-05', '--batch-size', '0'], '--batch-size: "0" is not allowed; expected an integer from 1 to 5000'],
  [['invoices', 'show'], '<invoiceId>: required; expected an invoice id, or --tenant <tenantId> with --month YYYY-MM'],
  [['invoices', 'show', 'inv-1', '--format', 'pdf'], CHOICES('--format <format>', 'pdf', 'table, json, csv, html')],
  [['doctor', '--provider', 'mysql'], CHOICES('--provider <provider>', 'mysql', 'sqlite, postgresql')],
]

/** Values only the database can judge (checked after connecting, still before any write): run on each database. */
const CONNECTED_CASES: typeof CASES = [
  [
    ['keys', 'create', '--tenant', 'acme', '--name', 'x'],
    'LLM_TENANT_API_KEY_PEPPER: "[a pepper]" is not allowed; expected a pepper of at least 16 characters',
    { LLM_TENANT_API_KEY_PEPPER: 'short-pepper' },
  ],
  [['keys', 'create', '--tenant', 'acme', '--name', 'x', '--pepper-env', 'NOT_SET_ANYWHERE'], '--pepper-env: "NOT_SET_ANYWHERE" is not allowed'],
  [['keys', 'rotate', 'some-id', '--prefix', 'x_y_z_w'], '--prefix: "x_y_z_w" is not allowed'],
]

beforeAll(assertBuilt)

function expectUsageError(r: CliResult, args: string[], expected: string | RegExp): void {
  const label = `prisma-llm-tenant ${args.join(' ')}`
  expect(r.status, `${label}\n${r.stderr}`).toBe(2)
  const message = args.includes('--json') ? (JSON.parse(r.stderr) as { error: { message: string } }).error.message : r.stderr
  if (typeof expected === 'string') expect(message, label).toContain(expected)
  else expect(message, label).toMatch(expected)
  expect(r.stdout, label).toBe('')
}

describe.each(DATABASES)('bad usage of prisma-llm-tenant (%s)', (kind) => {
  const db = useDatabase(kind)

  beforeAll(async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'acme', name: 'Acme' })
    await createApiKeys(db().client, { pepper: PEPPER.LLM_TENANT_API_KEY_PEPPER }).createApiKey('acme', { name: 'seeded' })
  })

  it('every bad flag value: exit 2 naming the flag and what it allows; nothing written', async () => {
    // Flag values are checked before connecting: the same on either database, so run once (on SQLite).
    const cases = kind === 'sqlite' ? [...CASES, ...CONNECTED_CASES] : CONNECTED_CASES
    const before = await counts(db(), TABLES)
    const results = await inParallel(cases, 4, ([args, , env]) => runBuilt(args, { DATABASE_URL: databaseUrl(db()), ...PEPPER, ...env }))
    results.forEach((r, i) => expectUsageError(r, cases[i][0], cases[i][1]))
    expect(await counts(db(), TABLES)).toEqual(before)
  })

  it('a provider other than the URL’s; --json errors are one JSON object on stderr', async () => {
    const other = kind === 'sqlite' ? 'postgresql' : 'sqlite'
    const wrong = await cliOn(db(), ['usage', '--provider', other])
    expect(wrong.status).toBe(2)
    expect(wrong.stderr).toContain(`--provider: "${other}" is not allowed; expected ${kind} (DATABASE_URL is a ${kind} URL)`)
    const asJson = await cliOn(db(), ['usage', '--by', 'tenant', '--json'])
    expect(asJson.status).toBe(2)
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { kind: 'usage', message: expect.stringContaining('--by <group>'), exitCode: 2 } })
    const failure = await cliOn(db(), ['tenants', 'show', 'nobody', '--json'])
    expect(failure.status).toBe(1)
    expect(JSON.parse(failure.stderr)).toEqual({ error: { kind: 'failure', message: 'No tenant "nobody"', exitCode: 1 } })
  })

  it('a key-shaped value where an id belongs is redacted from the error', async () => {
    const secret = `sk_${'A1b2C3d4E5'.repeat(3)}`
    const before = await counts(db(), TABLES)
    const [create, rotate, revoke] = await Promise.all([
      cliOn(db(), ['keys', 'create', '--tenant', secret, '--name', 'x'], PEPPER),
      cliOn(db(), ['keys', 'rotate', secret], PEPPER),
      cliOn(db(), ['keys', 'revoke', secret]),
    ])
    for (const r of [create, rotate, revoke]) {
      expect(r.status, r.stderr).toBe(1)
      expect(r.stderr + r.stdout).not.toContain(secret)
      expect(r.stderr).toContain('[REDACTED]')
    }
    expect(await counts(db(), TABLES)).toEqual(before)
  })
})

describe('prisma-llm-tenant without a usable DATABASE_URL', () => {
  it('missing, of an unknown scheme, a missing SQLite file: exit 2 or 1, the URL never echoed', async () => {
    const [missing, mysql, noFile, unreachable] = await Promise.all([
      cli(['usage']),
      cli(['usage'], { env: { DATABASE_URL: 'mysql://root:hunter2secret@db:3306/app' } }),
      cli(['tenants', 'list'], { env: { DATABASE_URL: 'file:./does-not-exist.db' } }),
      cli(['doctor', '--json'], { env: { DATABASE_URL: 'postgresql://app:hunter2secret@127.0.0.1:1/app?schema=x' } }),
    ])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('DATABASE_URL: required; expected the database URL in the environment')
    expect(mysql.status).toBe(2)
    expect(mysql.stderr).toContain('--provider: "mysql:…" is not allowed; expected sqlite or postgresql')
    expect(noFile.status).toBe(1)
    expect(noFile.stderr).toMatch(/no SQLite database at \/.*does-not-exist\.db\n {2}fix: check DATABASE_URL/)
    expect(unreachable.status).toBe(1)
    expect(JSON.parse(unreachable.stderr).error.kind).toBe('failure')
    for (const r of [mysql, unreachable]) expect(r.stdout + r.stderr).not.toContain('hunter2secret')
  })
})
