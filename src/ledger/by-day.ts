/**
 * Usage by zone-local day. The database groups rows into 15-minute UTC slots (a portable integer
 * expression on both SQLite and PostgreSQL, one index range scan); we fold slots into days of the
 * configured zone in JS. Every current IANA offset is a multiple of 15 minutes, so a slot never
 * straddles a local midnight; for zones where that is not true (historic LMT offsets) we fall back
 * to one range aggregate per day. Either way: the app's zone, never the database's UTC date.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { daysOf, type DayBucket } from '../foundation/periods.js'
import { nanosToUsd, toNanos } from '../foundation/money.js'
import { placeholder, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import type { Scope } from './scope.js'
import { scopeWhere } from './scope.js'
import type { UsageFigures } from './types.js'

const SLOT_MS = 15 * 60 * 1000
/** One zero-filled entry per day: a range of centuries would build millions of them (minutes of CPU). */
const MAX_DAYS = 10_000

function epochSecondsSql(provider: SqlProvider): string {
  // SQLite: the Prisma adapter stores ISO-8601 text by default, or unix-epoch ms when configured so.
  return provider === 'postgresql'
    ? 'EXTRACT(EPOCH FROM "started_at")'
    : `(CASE WHEN typeof("started_at") = 'integer' THEN "started_at" / 1000 ELSE CAST(strftime('%s', "started_at") AS INTEGER) END)`
}

/** Binary search over the (sorted, contiguous) days; avoids a time-zone conversion per slot. */
function dayContaining(days: DayBucket[], ms: number): DayBucket | undefined {
  let lo = 0
  let hi = days.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const day = days[mid]
    // A slot may start before the clipped first day's start (custom ranges): compare with the next day.
    if (ms < (mid === 0 ? Number.NEGATIVE_INFINITY : day.start.getTime())) hi = mid - 1
    else if (ms >= day.end.getTime()) lo = mid + 1
    else return day
  }
  return undefined
}

export async function usageByDay(client: LlmPrismaClient, provider: SqlProvider, scope: Scope): Promise<Record<string, UsageFigures>> {
  const { from, to } = scope.period
  if (to.getTime() - from.getTime() > MAX_DAYS * 86_400_000) {
    throw new InvalidArgumentError('period', `a range of at most ${MAX_DAYS} days for usageByDay`, `${from.toISOString()} to ${to.toISOString()}`)
  }
  const days = daysOf(scope.period)
  const totals = new Map<string, { nanos: bigint; tokens: number; count: number }>()
  for (const day of days) totals.set(day.key, { nanos: 0n, tokens: 0, count: 0 })
  if (days.length === 0) return {}

  const aligned = days.every((d, i) => i === 0 || d.start.getTime() % SLOT_MS === 0)
  if (aligned) {
    const params: unknown[] = [scope.period.from, scope.period.to]
    const refusedFilter = scope.includeRefused ? '' : `AND "status" <> 'refused'`
    let tenantFilter = ''
    if (scope.tenantId === null) tenantFilter = 'AND "tenant_id" IS NULL'
    else if (scope.tenantId !== undefined) {
      params.push(scope.tenantId)
      tenantFilter = `AND "tenant_id" = ${placeholder(provider, 3)}`
    }
    const slot = `FLOOR(${epochSecondsSql(provider)} / 900)`
    const castText = provider === 'postgresql' ? '::text' : ''
    const sql = `SELECT CAST(${slot} AS BIGINT) AS slot, SUM("total_cost_nanos")${castText} AS nanos,
        SUM("total_tokens")${castText} AS tokens, COUNT(*)${castText} AS n
      FROM "llm_executions"
      WHERE "started_at" >= ${placeholder(provider, 1)} AND "started_at" < ${placeholder(provider, 2)} ${tenantFilter} ${refusedFilter}
      GROUP BY 1`
    const rows = (await client.$queryRawUnsafe(sql, ...params)) as Array<{ slot: unknown; nanos: unknown; tokens: unknown; n: unknown }>
    for (const row of rows) {
      const day = dayContaining(days, Number(toNanos(row.slot)) * SLOT_MS)
      const bucket = day && totals.get(day.key)
      if (!bucket) continue // cannot happen: the WHERE clause clips to the period's days
      bucket.nanos += toNanos(row.nanos)
      bucket.tokens += Number(toNanos(row.tokens))
      bucket.count += Number(toNanos(row.n))
    }
  } else {
    for (const day of days) {
      const agg = (await client.llmExecution.aggregate({
        where: scopeWhere({ tenantId: scope.tenantId, includeRefused: scope.includeRefused, period: { ...scope.period, from: day.start, to: day.end } }),
        _sum: { totalCostNanos: true, totalTokens: true },
        _count: { _all: true },
      })) as { _sum: { totalCostNanos: unknown; totalTokens: unknown }; _count: { _all: number } }
      totals.set(day.key, {
        nanos: toNanos(agg._sum.totalCostNanos),
        tokens: Number(toNanos(agg._sum.totalTokens)),
        count: agg._count._all,
      })
    }
  }
  const result: Record<string, UsageFigures> = {}
  for (const [key, t] of totals) result[key] = { cost: nanosToUsd(t.nanos), tokens: t.tokens, count: t.count }
  return result
}
