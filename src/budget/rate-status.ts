/**
 * Rate-limit status: per window that applies to a tenant — its limit, what remains now and when
 * it is full again (GCRA, gcra.ts), and where the limit came from — and the HTTP header values a
 * server answers with (RFC 9110 `Retry-After`, the IETF draft's `RateLimit-Policy` / `RateLimit`).
 */
import type { RateLimitKey, RateMeasure, RateWindow } from '../config/rate-limits.js'
import type { RawRunner, SqlProvider } from '../db/client.js'
import { nsToDate, remainingAt, toNs } from '../rate-limits/gcra.js'
import { rateKeyId, type LimitSource, type RateCheck } from '../rate-limits/keys.js'
import { readRateRows } from '../rate-limits/statements.js'
import type { BudgetExceededError, RateLimitExceededError } from './errors.js'

export interface RateWindowStatus {
  scope: 'tenant' | 'global' | 'agent' | 'api_key'
  name: RateLimitKey
  measure: RateMeasure
  window: RateWindow
  /** Requests or tokens per window. */
  limit: number
  /** Requests (or tokens) that would pass now. */
  remaining: number
  /** When the window is full again (nothing owed). */
  resetsAt: Date
  source: LimitSource
}

const WINDOW_SECONDS: Record<RateWindow, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 }

/** The database's clock (PostgreSQL) or this process's (SQLite), in ns: the clock windows are decided on. */
export async function rateClockNs(db: RawRunner, provider: SqlProvider, now: Date): Promise<bigint> {
  if (provider !== 'postgresql') return toNs(now)
  const [row] = (await db.$queryRawUnsafe(`SELECT CAST(CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000 AS BIGINT) AS TEXT) AS now_ns`)) as Array<{
    now_ns: string
  }>
  return BigInt(row.now_ns)
}

export async function rateWindowStatus(db: RawRunner, provider: SqlProvider, checks: readonly RateCheck[], now: Date): Promise<RateWindowStatus[]> {
  if (checks.length === 0) return []
  const [nowNs, rows] = await Promise.all([
    rateClockNs(db, provider, now),
    readRateRows(
      db,
      provider,
      checks.map((c) => c.key),
    ),
  ])
  const byId = new Map(rows.map((r) => [rateKeyId(r.key), r]))
  return checks.map((c) => {
    const stored = byId.get(rateKeyId(c.key))
    const { remaining, resetsAtNs } = remainingAt(stored?.tatNs ?? 0n, nowNs, c.limit, c.window, stored?.limitValue ?? 0n)
    return {
      scope: c.scope === 'tenant' || c.scope === 'global' || c.scope === 'api_key' ? c.scope : 'agent',
      name: c.name,
      measure: c.measure,
      window: c.window,
      limit: Number(c.limit),
      remaining: Number(remaining),
      resetsAt: nsToDate(resetsAtNs),
      source: c.source,
    }
  })
}

/**
 * `Retry-After` for a refusal, in whole seconds rounded up (RFC 9110 allows no fraction; rounding
 * down would invite a retry that fails); null when no retry can succeed by waiting (a call larger
 * than its window, or maxConcurrent, which frees when a call ends).
 */
export function retryAfterSeconds(refusal: BudgetExceededError | RateLimitExceededError): number | null {
  if ('retryAfterMs' in refusal) return refusal.retryAfterMs === null ? null : Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))
  return refusal.retryAfterSeconds
}

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) for the windows of a
 * status: `RateLimit-Policy: "requests-minute";q=60;w=60, …` and `RateLimit: "requests-minute";r=12;t=30, …`
 * (t in whole seconds, rounded up). Empty when no window applies.
 */
export function rateLimitHeaders(windows: readonly RateWindowStatus[], now: Date): Record<string, string> {
  if (windows.length === 0) return {}
  const item = (w: RateWindowStatus) => `"${w.scope === 'tenant' ? '' : `${w.scope}-`}${w.measure}-${w.window}"`
  return {
    'RateLimit-Policy': windows.map((w) => `${item(w)};q=${w.limit};w=${WINDOW_SECONDS[w.window]}`).join(', '),
    RateLimit: windows.map((w) => `${item(w)};r=${w.remaining};t=${Math.max(0, Math.ceil((w.resetsAt.getTime() - now.getTime()) / 1000))}`).join(', '),
  }
}
