/**
 * The harness of the bad-input tables (bad-input.test.ts, bad-input.budget.test.ts): a row is one
 * invalid input given to one public entry point. Each row must be refused with a typed error whose
 * message names the field and what is allowed, and must leave every library table exactly as it was.
 */
import { expect } from 'vitest'
import { InvalidArgumentError, LIMIT_TYPES, type LimitType } from '../../src/index.ts'
import { tableCounts, type TestDatabase } from '../support/databases.ts'

type ErrorClass = abstract new (...args: never[]) => Error

export interface BadInput<C> {
  /** Entry point and input; rows that caught a defect start with "regression:". */
  name: string
  run: (ctx: C) => unknown
  /** Dotted field the error must name (InvalidArgumentError.field; for other errors, found in the text). */
  field: string
  /** What the message must say is allowed. */
  allowed: RegExp
  /** Default InvalidArgumentError. */
  error?: ErrorClass
  /** The text to check for field and allowed values (default: the message). */
  detail?: (err: any) => string
  /**
   * Default: nothing is written. Calls that reached a provider (or ran the caller's function) must be
   * recorded — writing nothing would be a budget bypass — so for them: exactly their own execution
   * rows, settled (no open hold) with this status and error class, and no tenant row.
   */
  writes?: { executions: number; status: string; errorClass: string; tokens?: number; costNanos?: string }
}

/** Everything the library stores (the test tables are small): equal snapshots = nothing written. */
export async function snapshot(db: TestDatabase) {
  const { executions, tenants } = await tableCounts(db)
  const rows = (sql: string) => db.rawQuery<Record<string, unknown>>(sql)
  const [sums] = await rows(`SELECT
      CAST(COALESCE(SUM(spent_cost_nanos), 0) AS TEXT) AS spent_cost, CAST(COALESCE(SUM(spent_tokens), 0) AS TEXT) AS spent_tokens,
      CAST(COALESCE(SUM(spent_executions), 0) AS TEXT) AS spent_executions, CAST(COALESCE(SUM(reserved_cost_nanos), 0) AS TEXT) AS reserved_cost,
      CAST(COALESCE(SUM(reserved_tokens), 0) AS TEXT) AS reserved_tokens, CAST(COALESCE(SUM(reserved_executions), 0) AS TEXT) AS reserved_executions,
      COUNT(*) AS counter_rows FROM llm_budget_counters`)
  const [holds] = await rows(`SELECT COUNT(*) AS n, SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END) AS open FROM llm_budget_holds`)
  return {
    counts: { executions, tenants, counters: Number(sums.counter_rows), holds: Number(holds.n), openHolds: Number(holds.open ?? 0) },
    counterSums: { ...sums, counter_rows: undefined },
    ledger: await rows(`SELECT id, status, error_class, CAST(total_cost_nanos AS TEXT) AS cost, total_tokens FROM llm_executions ORDER BY id`),
    tenantRows: await rows('SELECT * FROM llm_tenants ORDER BY tenant_id'),
    counterRows: await rows('SELECT * FROM llm_budget_counters ORDER BY scope, tenant_id, agent_type, period, bucket'),
    holdRows: await rows('SELECT id, state, CAST(cost_nanos AS TEXT) AS cost, CAST(tokens AS TEXT) AS tokens FROM llm_budget_holds ORDER BY id'),
  }
}

/** Runs one row: refused, typed, names field and allowed values, writes nothing (or only its own call). */
export async function expectRefused<C>(row: BadInput<C>, ctx: C, db: TestDatabase): Promise<void> {
  const before = await snapshot(db)
  let accepted: unknown
  const err = await (async () => row.run(ctx))().then(
    (value) => void (accepted = value ?? '(undefined)'),
    (e: unknown) => e,
  )
  expect(accepted, `accepted: ${row.name}`).toBeUndefined()
  expect(err, `wrong error class for: ${row.name}: ${String(err)}`).toBeInstanceOf(row.error ?? InvalidArgumentError)
  const text = row.detail ? row.detail(err) : (err as Error).message
  if (err instanceof InvalidArgumentError && !row.detail) {
    expect(err.field).toBe(row.field)
    expect(err.message).toContain(`Invalid ${row.field}:`)
    expect(err.message).toContain(`Allowed: ${err.allowed}.`)
    expect(err.allowed).toMatch(row.allowed)
  } else {
    expect(text).toContain(row.field)
    expect(text).toMatch(row.allowed)
  }
  const after = await snapshot(db)
  if (!row.writes) {
    expect(after, `wrote something: ${row.name}`).toEqual(before)
    return
  }
  const known = new Set(before.ledger.map((r) => r.id))
  const added = after.ledger.filter((r) => !known.has(r.id))
  expect(added).toHaveLength(row.writes.executions)
  for (const r of added) {
    expect(r).toMatchObject({ status: row.writes.status, error_class: row.writes.errorClass })
    if (row.writes.tokens !== undefined) expect(Number(r.total_tokens)).toBe(row.writes.tokens)
    if (row.writes.costNanos !== undefined) expect(r.cost).toBe(row.writes.costNanos)
  }
  expect(after.ledger.filter((r) => known.has(r.id))).toEqual(before.ledger) // no other execution touched
  expect(after.tenantRows).toEqual(before.tenantRows)
  expect(after.counts.openHolds).toBe(before.counts.openHolds)
}

// ── Shared bad values ────────────────────────────────────────────────────────────────────────────

export type Bad = [label: string, value: unknown]

export const COST_BAD: Bad[] = [
  ['-1', -1],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ["'abc'", 'abc'],
  ["'1e400'", '1e400'],
  ["'-0.5'", '-0.5'],
]
export const COUNT_BAD: Bad[] = [
  ['-1', -1],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ["'abc'", 'abc'],
  ["'10' (numeric string)", '10'],
  ['1.5', 1.5],
  ['2**53 (beyond safe integer)', 2 ** 53],
  ['2n**63n (beyond BIGINT)', 2n ** 63n],
  ['-1n', -1n],
]
export const MAX_CONCURRENT_BAD: Bad[] = [
  ['-1', -1],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ["'abc'", 'abc'],
  ['1.5', 1.5],
  ['2**53', 2 ** 53],
]
export const ENFORCEMENT_BAD: Bad[] = [
  ["'HARD'", 'HARD'],
  ["'strict'", 'strict'],
  ["''", ''],
  ['1', 1],
  ['true', true],
]
export const TENANT_BAD: Bad[] = [
  ['number 42', 42],
  ['array', ['acme']],
  ['object without id', { name: 'acme' }],
  ['{ id: 42 }', { id: 42 }],
  ["''", ''],
]
export const ZONE_BAD: Bad[] = [
  ["'Mars/Phobos'", 'Mars/Phobos'],
  ["''", ''],
  ["'UTC+25'", 'UTC+25'],
  ['42', 42],
]
export const PERIOD_BAD: Bad[] = [
  ["'forever'", 'forever'],
  ["'Today'", 'Today'],
  ["'this-month'", 'this-month'],
  ["''", ''],
  ['42', 42],
  ['a Date', new Date('2026-01-01')],
]
export const REVERSED_RANGE = { from: '2026-03-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }

export const ALLOWED = {
  cost: /finite, non-negative dollar amount|at most \$9223372036\.854775807/,
  count: /integer from 0 to 9007199254740991/,
  maxConcurrent: /integer >= 0/,
  tokens: /integer from 0 to 2147483647/,
  enforcement: /none, soft, hard/,
  period: /today, yesterday, this_week, last_week, this_month, last_month or \{ from, to \}/,
  zone: /IANA time zone/,
  tenant: /tenant id string/,
  id: /non-empty string/,
}

export const isCost = (type: LimitType) => type === 'dailyCost' || type === 'monthlyCost'

/** Every limit type × its bad values. */
export function limitCases(): Array<{ type: LimitType; label: string; value: unknown; allowed: RegExp }> {
  return LIMIT_TYPES.flatMap((type) =>
    (isCost(type) ? COST_BAD : COUNT_BAD).map(([label, value]) => ({ type, label, value, allowed: isCost(type) ? ALLOWED.cost : ALLOWED.count })),
  )
}
