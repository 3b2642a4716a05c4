/**
 * Counter keys: which counter rows one call touches. Every call maintains the same fixed set of
 * scopes (so counters can always be compared with the ledger, and a limit configured mid-month
 * finds its counter already counting): tenant, global, tenant×agent and global×agent, each per day
 * and per month, plus the tenant's in-flight row.
 */
import { TZDate } from '@date-fns/tz'
import { addDays, addMonths } from 'date-fns'
import { dayKey } from '../../foundation/periods.js'

const SCOPES = ['tenant', 'global', 'tenant_agent', 'global_agent', 'api_key'] as const
export type Scope = (typeof SCOPES)[number]
type PeriodKind = 'day' | 'month' | 'inflight'

/**
 * [scope, tenantId ('' = none), agentType ('' = none), period, bucket] — the counter primary key.
 * For the `api_key` scope the second part is the key's stable id (a key belongs to one tenant).
 */
export type CounterKey = readonly [scope: Scope, tenantId: string, agentType: string, period: PeriodKind, bucket: string]

const INFLIGHT_BUCKET = '*'

/**
 * The zone-local day of the last instant asked about, per zone, with its instant range: every call
 * needs its buckets, and a zone conversion costs ~60 µs, so it is done once per zone-day.
 */
const currentDay = new Map<string, { day: string; month: string; from: number; to: number }>()

export function buckets(at: Date, timeZone: string): { day: string; month: string } {
  const t = at.getTime()
  const hit = currentDay.get(timeZone)
  if (hit && t >= hit.from && t < hit.to) return { day: hit.day, month: hit.month }
  const day = dayKey(at, timeZone)
  const { from, to } = bucketRange('day', day, timeZone)
  if (currentDay.size > 64) currentDay.clear()
  currentDay.set(timeZone, { day, month: day.slice(0, 7), from: from.getTime(), to: to.getTime() })
  return { day, month: day.slice(0, 7) }
}

/** Ids of the key arrays seen: admission compares each call's keys with its checks' many times. */
const ids = new WeakMap<CounterKey, string>()

export function keyId(key: CounterKey): string {
  let id = ids.get(key)
  if (id === undefined) ids.set(key, (id = JSON.stringify(key)))
  return id
}

/**
 * Keys touched by one call, sorted (a fixed lock order avoids deadlocks between transactions). A
 * call made with a tenant API key also has the key's rows (kept only where the key has limits).
 */
export function counterKeysFor(tenantId: string | null, agentType: string, at: Date, timeZone: string, apiKeyId: string | null = null): CounterKey[] {
  const { day, month } = buckets(at, timeZone)
  const keys: CounterKey[] = []
  for (const [period, bucket] of [
    ['day', day],
    ['month', month],
  ] as const) {
    keys.push(['global', '', '', period, bucket], ['global_agent', '', agentType, period, bucket])
    if (tenantId !== null) keys.push(['tenant', tenantId, '', period, bucket], ['tenant_agent', tenantId, agentType, period, bucket])
    if (apiKeyId !== null) keys.push(['api_key', apiKeyId, '', period, bucket])
  }
  if (tenantId !== null) keys.push(['tenant', tenantId, '', 'inflight', INFLIGHT_BUCKET])
  return keys.sort(compareKeys)
}

export function compareKeys(a: CounterKey, b: CounterKey): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1
    if (a[i] > b[i]) return 1
  }
  return 0
}

/** Each distinct key's rank in the one global lock order (what batched statements lock by). */
export function lockRanks(keys: Iterable<CounterKey>): Map<string, number> {
  const distinct = new Map<string, CounterKey>()
  for (const k of keys) distinct.set(keyId(k), k)
  return new Map([...distinct.values()].sort(compareKeys).map((k, i) => [keyId(k), i]))
}

/**
 * The counter rows a call maintains: its tenant's rows always (status and limits can be set at any
 * time), other scopes only where a limit applies to this call. Global and per-agent rows would be
 * hot rows shared by every call; without a limit nobody needs them (the ledger has the figures).
 */
export function maintainedKeys(keys: CounterKey[], policy: { checks: ReadonlyArray<{ key: CounterKey }> }): CounterKey[] {
  const limited = new Set(policy.checks.map((c) => keyId(c.key)))
  return keys.filter((k) => k[0] === 'tenant' || limited.has(keyId(k)))
}

/** The instant range [from, to) of a day ('YYYY-MM-DD') or month ('YYYY-MM') bucket in the zone. */
export function bucketRange(period: 'day' | 'month', bucket: string, timeZone: string): { from: Date; to: Date } {
  const [y, m, d] = bucket.split('-').map(Number)
  const start = new TZDate(y, m - 1, period === 'day' ? d : 1, timeZone)
  const end = period === 'day' ? addDays(start, 1) : addMonths(start, 1)
  return { from: new Date(start.getTime()), to: new Date(end.getTime()) }
}
