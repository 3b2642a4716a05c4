/**
 * Fault-test bookkeeping shared by test/reliability/faults.*.test.ts: raw reads of the ledger, the
 * holds and the counters (through the driver, not the library), an audit of "every call recorded
 * exactly once", and a tally of injected faults printed as one line per file:
 *   faults: N injected (kind=n, …), rows lost 0, duplicated 0
 */
import type { TestDatabase } from './databases.ts'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Runs SQL written with PostgreSQL placeholders ($1, $2 …) on either database. */
export function q<T = Record<string, unknown>>(db: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  return db.rawQuery<T>(db.kind === 'sqlite' ? sql.replace(/\$\d+/g, '?') : sql, params)
}

export const big = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(String(v)))

export interface LedgerRow {
  id: string
  tenantId: string | null
  status: string
  errorClass: string | null
  inputTokens: number
  outputTokens: number
  totalTokens: number
  totalCostNanos: bigint
  metadata: Record<string, unknown> | null
}

function toLedgerRow(r: Record<string, unknown>): LedgerRow {
  const meta = r.metadata
  return {
    id: String(r.id),
    tenantId: (r.tenant_id as string | null) ?? null,
    status: String(r.status),
    errorClass: (r.error_class as string | null) ?? null,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    totalTokens: Number(r.total_tokens),
    totalCostNanos: big(r.total_cost_nanos),
    metadata: meta === null || meta === undefined ? null : typeof meta === 'string' ? JSON.parse(meta) : (meta as Record<string, unknown>),
  }
}

const LEDGER_COLUMNS = `"id", "tenant_id", "status", "error_class", "input_tokens", "output_tokens", "total_tokens", "total_cost_nanos", "metadata"`

export async function ledgerRowsOf(db: TestDatabase, where: 'trace_id' | 'tenant_id' | 'id', value: string): Promise<LedgerRow[]> {
  const rows = await q(db, `SELECT ${LEDGER_COLUMNS} FROM "llm_executions" WHERE "${where}" = $1 ORDER BY "started_at", "created_at", "id"`, [value])
  return rows.map(toLedgerRow)
}

/** State of the hold of one execution: 'open' | 'expired' | … | null (deleted at settle). */
export async function holdState(db: TestDatabase, id: string): Promise<string | null> {
  const [row] = await q<{ state: string }>(db, `SELECT "state" FROM "llm_budget_holds" WHERE "id" = $1`, [id])
  return row?.state ?? null
}

export async function openHolds(db: TestDatabase, tenantId?: string): Promise<number> {
  const [row] =
    tenantId === undefined
      ? await q<{ n: unknown }>(db, `SELECT COUNT(*) AS n FROM "llm_budget_holds" WHERE "state" = 'open'`)
      : await q<{ n: unknown }>(db, `SELECT COUNT(*) AS n FROM "llm_budget_holds" WHERE "state" = 'open' AND "tenant_id" = $1`, [tenantId])
  return Number(row.n)
}

export interface TenantFigures {
  /** Reserved on the tenant's day counter. */
  reservedCost: bigint
  reservedTokens: bigint
  reservedExecutions: bigint
  /** Every reserved column of every counter row of the tenant, summed (0 when nothing is held). */
  reservedAnywhere: bigint
  /** The tenant's day counter. */
  spentCost: bigint
  spentExecutions: bigint
  /** Settled, non-refusal ledger rows of the tenant. */
  ledgerCost: bigint
  ledgerExecutions: bigint
  running: number
}

/** Counters vs ledger for one tenant (the day bucket(s) present). */
export async function tenantFigures(db: TestDatabase, tenantId: string): Promise<TenantFigures> {
  const [res] = await q<Record<string, unknown>>(
    db,
    `SELECT SUM("reserved_cost_nanos") AS c, SUM("reserved_tokens") AS t, SUM("reserved_executions") AS e FROM "llm_budget_counters"
      WHERE "tenant_id" = $1 AND "scope" = 'tenant' AND "period" = 'day'`,
    [tenantId],
  )
  const [any] = await q<Record<string, unknown>>(
    db,
    `SELECT SUM("reserved_cost_nanos" + "reserved_tokens" + "reserved_executions") AS n FROM "llm_budget_counters" WHERE "tenant_id" = $1`,
    [tenantId],
  )
  const [spent] = await q<Record<string, unknown>>(
    db,
    `SELECT SUM("spent_cost_nanos") AS c, SUM("spent_executions") AS e FROM "llm_budget_counters" WHERE "tenant_id" = $1 AND "scope" = 'tenant' AND "period" = 'day'`,
    [tenantId],
  )
  const [led] = await q<Record<string, unknown>>(
    db,
    `SELECT SUM("total_cost_nanos") AS c, COUNT(*) AS e FROM "llm_executions" WHERE "tenant_id" = $1 AND "status" NOT IN ('running', 'refused')`,
    [tenantId],
  )
  const [running] = await q<{ n: unknown }>(db, `SELECT COUNT(*) AS n FROM "llm_executions" WHERE "tenant_id" = $1 AND "status" = 'running'`, [tenantId])
  return {
    reservedCost: big(res?.c),
    reservedTokens: big(res?.t),
    reservedExecutions: big(res?.e),
    reservedAnywhere: big(any?.n),
    spentCost: big(spent?.c),
    spentExecutions: big(spent?.e),
    ledgerCost: big(led?.c),
    ledgerExecutions: big(led?.e),
    running: Number(running.n),
  }
}

/**
 * For each call id: how many ledger rows carry it and whether it is final. Lost = a call with no
 * final row; duplicated = a call with more than one row, or rows nobody made (extra; refusal rows aside).
 */
export async function auditIds(
  db: TestDatabase,
  ids: readonly string[],
  tenantId?: string,
): Promise<{ lost: string[]; duplicated: string[]; extra: string[] }> {
  const lost: string[] = []
  const duplicated: string[] = []
  for (const id of new Set(ids)) {
    const rows = await ledgerRowsOf(db, 'id', id)
    if (rows.length === 0 || rows.some((r) => r.status === 'running')) lost.push(id)
    if (rows.length > 1) duplicated.push(id)
  }
  let extra: string[] = []
  if (tenantId !== undefined) {
    const known = new Set(ids)
    // Refusal rows (status `refused`) record calls that were never admitted: not the audited calls' rows.
    extra = (await ledgerRowsOf(db, 'tenant_id', tenantId))
      .filter((r) => r.status !== 'refused')
      .map((r) => r.id)
      .filter((id) => !known.has(id))
  }
  return { lost, duplicated, extra }
}

/** Faults injected per kind, and what the audits found; printed once per file. */
export class FaultTally {
  readonly injected = new Map<string, number>()
  lost = 0
  duplicated = 0
  calls = 0
  /** Calls whose row exists but whose consumed usage never reached it (e.g. settle_failed → $0 timeout). */
  usageLost = 0

  inject(kind: string, n = 1): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + n)
  }

  record(audit: { lost: string[]; duplicated: string[]; extra?: string[] }, calls: number): void {
    this.calls += calls
    this.lost += audit.lost.length
    this.duplicated += audit.duplicated.length + (audit.extra?.length ?? 0)
  }

  line(label: string): string {
    const total = [...this.injected.values()].reduce((a, b) => a + b, 0)
    const kinds = [...this.injected].map(([k, n]) => `${k}=${n}`).join(', ')
    const usage = this.usageLost > 0 ? `, usage lost on ${this.usageLost} call(s)` : ''
    return `faults: ${total} injected (${label}${kinds ? `: ${kinds}` : ''}), ${this.calls} calls audited, rows lost ${this.lost}, duplicated ${this.duplicated}${usage}`
  }
}
