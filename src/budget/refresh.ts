/**
 * refreshCounters: recompute counters from the ledger (spent = settled rows of the bucket) and the
 * open holds (reserved). Each (period, bucket) is refreshed in its own transaction that first takes
 * the write lock on that bucket's counter rows, so a settle running concurrently either committed
 * before (and is in the ledger sums) or commits after (and adds its delta on top): nothing is lost.
 */
import type { LlmConfig } from '../config/config.js'
import { placeholder, type SqlProvider } from '../db/client.js'
import { toCounterRow, type CounterRow } from '../ledger/counters/statements.js'
import { bucketRange, buckets, keyId, type CounterKey } from '../ledger/counters/keys.js'
import { UNCOUNTED_STATUSES_SQL } from '../ledger/types.js'
import { toNanos as big } from '../foundation/money.js'
import type { RawRunner } from '../db/client.js'
import type { TransactionRunner } from '../db/client.js'

export interface RefreshResult {
  /** Counter rows examined. */
  rows: number
  /** Rows whose values differed from the ledger and were corrected (or created). */
  changed: number
}

type Totals = { cost: bigint; tokens: bigint; executions: bigint }
const zero = (): Totals => ({ cost: 0n, tokens: 0n, executions: 0n })

async function lockBucket(tx: RawRunner, provider: SqlProvider, period: string, bucket: string, tenantId?: string): Promise<CounterRow[]> {
  const p = (i: number) => placeholder(provider, i)
  const tenant = tenantId !== undefined ? ` AND "tenant_id" = ${p(3)}` : ''
  const params = tenantId !== undefined ? [period, bucket, tenantId] : [period, bucket]
  if (provider === 'sqlite') {
    // Take SQLite's write lock before reading, like FOR UPDATE.
    await tx.$executeRawUnsafe(`UPDATE "llm_budget_counters" SET "alerted" = "alerted" WHERE "period" = ${p(1)} AND "bucket" = ${p(2)}${tenant}`, ...params)
  }
  const lock = provider === 'postgresql' ? ' FOR UPDATE' : ''
  const rows = (await tx.$queryRawUnsafe(
    `SELECT * FROM "llm_budget_counters" WHERE "period" = ${p(1)} AND "bucket" = ${p(2)}${tenant} ORDER BY "scope", "tenant_id", "agent_type"${lock}`,
    ...params,
  )) as Record<string, unknown>[]
  return rows.map(toCounterRow)
}

/** Expected spent per key of one day/month bucket, from the ledger. */
async function ledgerTotals(
  tx: RawRunner,
  provider: SqlProvider,
  config: LlmConfig,
  period: 'day' | 'month',
  bucket: string,
  tenantId?: string,
): Promise<Map<string, Totals>> {
  const p = (i: number) => placeholder(provider, i)
  const { from, to } = bucketRange(period, bucket, config.timeZone)
  const tenant = tenantId !== undefined ? ` AND "tenant_id" = ${p(3)}` : ''
  const cast = provider === 'postgresql' ? '::text' : ''
  const groups = (await tx.$queryRawUnsafe(
    `SELECT "tenant_id", "agent_type", "api_key_id", SUM("total_cost_nanos")${cast} AS cost, SUM("total_tokens")${cast} AS tokens, COUNT(*)${cast} AS n
       FROM "llm_executions" WHERE "started_at" >= ${p(1)} AND "started_at" < ${p(2)} AND "status" NOT IN (${UNCOUNTED_STATUSES_SQL})${tenant}
      GROUP BY "tenant_id", "agent_type", "api_key_id"`,
    ...(tenantId !== undefined ? [from, to, tenantId] : [from, to]),
  )) as Array<{ tenant_id: string | null; agent_type: string; api_key_id: string | null; cost: unknown; tokens: unknown; n: unknown }>
  const totals = new Map<string, Totals>()
  const add = (key: CounterKey, g: (typeof groups)[number]) => {
    const t = totals.get(keyId(key)) ?? zero()
    t.cost += big(g.cost)
    t.tokens += big(g.tokens)
    t.executions += big(g.n)
    totals.set(keyId(key), t)
  }
  for (const g of groups) {
    if (tenantId === undefined) {
      add(['global', '', '', period, bucket], g)
      add(['global_agent', '', g.agent_type, period, bucket], g)
    }
    if (g.tenant_id !== null) {
      add(['tenant', g.tenant_id, '', period, bucket], g)
      add(['tenant_agent', g.tenant_id, g.agent_type, period, bucket], g)
    }
    // A key's rows exist only where it has limits; refreshing one tenant leaves them alone.
    if (g.api_key_id !== null && tenantId === undefined) add(['api_key', g.api_key_id, '', period, bucket], g)
  }
  return totals
}

/** Reserved per key from open holds. */
async function holdTotals(tx: RawRunner, provider: SqlProvider, tenantId?: string): Promise<Map<string, Totals>> {
  const filter = tenantId !== undefined ? ` AND "tenant_id" = ${placeholder(provider, 1)}` : ''
  const holds = (await tx.$queryRawUnsafe(
    `SELECT "counters", "cost_nanos", "tokens" FROM "llm_budget_holds" WHERE "state" = 'open'${filter}`,
    ...(tenantId !== undefined ? [tenantId] : []),
  )) as Array<{ counters: string; cost_nanos: unknown; tokens: unknown }>
  const totals = new Map<string, Totals>()
  for (const h of holds) {
    for (const key of JSON.parse(h.counters) as CounterKey[]) {
      const t = totals.get(keyId(key)) ?? zero()
      t.cost += big(h.cost_nanos)
      t.tokens += big(h.tokens)
      t.executions += 1n
      totals.set(keyId(key), t)
    }
  }
  return totals
}

async function writeRow(tx: RawRunner, provider: SqlProvider, key: CounterKey, spent: Totals, reserved: Totals, now: Date, exists: boolean): Promise<void> {
  const p = (i: number) => placeholder(provider, i)
  const values = [spent.cost, spent.tokens, spent.executions, reserved.cost, reserved.tokens, reserved.executions, now]
  if (exists) {
    await tx.$executeRawUnsafe(
      `UPDATE "llm_budget_counters" SET "spent_cost_nanos" = ${p(1)}, "spent_tokens" = ${p(2)}, "spent_executions" = ${p(3)},
         "reserved_cost_nanos" = ${p(4)}, "reserved_tokens" = ${p(5)}, "reserved_executions" = ${p(6)}, "updated_at" = ${p(7)}
       WHERE "scope" = ${p(8)} AND "tenant_id" = ${p(9)} AND "agent_type" = ${p(10)} AND "period" = ${p(11)} AND "bucket" = ${p(12)}`,
      ...values,
      ...key,
    )
  } else {
    await tx.$executeRawUnsafe(
      `INSERT INTO "llm_budget_counters" ("spent_cost_nanos", "spent_tokens", "spent_executions", "reserved_cost_nanos", "reserved_tokens",
         "reserved_executions", "updated_at", "scope", "tenant_id", "agent_type", "period", "bucket")
       VALUES (${[...Array(12).keys()].map((i) => p(i + 1)).join(', ')})`,
      ...values,
      ...key,
    )
  }
}

const same = (a: Totals, row: CounterRow, which: 'spent' | 'reserved') =>
  which === 'spent'
    ? a.cost === row.spentCost && a.tokens === row.spentTokens && a.executions === row.spentExecutions
    : a.cost === row.reservedCost && a.tokens === row.reservedTokens && a.executions === row.reservedExecutions

/** Recomputes every counter row (of one tenant, or all) and creates rows the ledger implies. */
export async function refreshCounters(
  client: TransactionRunner & RawRunner,
  provider: SqlProvider,
  config: LlmConfig,
  tenantId?: string,
): Promise<RefreshResult> {
  const p = (i: number) => placeholder(provider, i)
  const existing = (await client.$queryRawUnsafe(
    `SELECT DISTINCT "period", "bucket" FROM "llm_budget_counters"${tenantId !== undefined ? ` WHERE "tenant_id" = ${p(1)}` : ''}`,
    ...(tenantId !== undefined ? [tenantId] : []),
  )) as Array<{ period: string; bucket: string }>
  const current = buckets(config.now(), config.timeZone)
  const targets = new Map<string, { period: string; bucket: string }>()
  for (const t of [...existing, { period: 'day', bucket: current.day }, { period: 'month', bucket: current.month }, { period: 'inflight', bucket: '*' }]) {
    targets.set(`${t.period}|${t.bucket}`, t)
  }
  const result: RefreshResult = { rows: 0, changed: 0 }
  const now = config.now()
  for (const { period, bucket } of targets.values()) {
    await client.$transaction(
      async (tx) => {
        const rows = await lockBucket(tx, provider, period, bucket, tenantId)
        const spent = period === 'inflight' ? new Map<string, Totals>() : await ledgerTotals(tx, provider, config, period as 'day' | 'month', bucket, tenantId)
        const reserved = await holdTotals(tx, provider, tenantId)
        const byId = new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
        // Rows that exist, plus the tenants' own rows the ledger implies (always maintained); other
        // scopes have rows only where a limit applies, so none are created here.
        const inScope = (id: string) => {
          const k = JSON.parse(id) as CounterKey
          return k[0] === 'tenant' && k[3] === period && k[4] === bucket && (tenantId === undefined || k[1] === tenantId)
        }
        const ids = new Set<string>([...byId.keys(), ...[...spent.keys()].filter(inScope), ...[...reserved.keys()].filter(inScope)])
        for (const id of ids) {
          const key = JSON.parse(id) as CounterKey
          const row = byId.get(id)
          const s = spent.get(id) ?? zero()
          const r = reserved.get(id) ?? zero()
          result.rows++
          if (row && same(s, row, 'spent') && same(r, row, 'reserved')) continue
          await writeRow(tx, provider, key, s, r, now, row !== undefined)
          result.changed++
        }
      },
      { maxWait: 10_000, timeout: 120_000 },
    )
  }
  return result
}
