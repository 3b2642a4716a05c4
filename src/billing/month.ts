/**
 * The month an invoice covers: `'last_month'` or `{ month: 'YYYY-MM' }`, resolved in the config's
 * time zone to the half-open instant range [from, to) — the same range the usage queries use for that
 * month — and its length in seconds (the proration denominator: 744 h for a 31-day month in UTC,
 * 743 h in Europe/Berlin's March, 745 h in its October). A month after the current one is refused;
 * the current month may be invoiced as a draft (a preview), finalized only once it has ended.
 */
import { TZDate } from '@date-fns/tz'
import { addMonths } from 'date-fns'
import type { LlmConfig } from '../config/config.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'

/** Which month to invoice: the one before the current month (in the config's zone), or a named one. */
export type InvoicePeriodInput = 'last_month' | { month: string }

export interface InvoiceMonth {
  /** 'YYYY-MM' in the zone. */
  month: string
  /** Inclusive start instant: the 1st, 00:00 in the zone. */
  from: Date
  /** Exclusive end instant: the next month's 1st, 00:00 in the zone. */
  to: Date
  timeZone: string
  /** The month's length in seconds in the zone (DST months are an hour shorter or longer). */
  seconds: bigint
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/
const MONTH_ALLOWED = "a month as 'YYYY-MM' (e.g. '2026-11'), year 1970 to 9999"
const PERIOD_ALLOWED = "'last_month' or { month: 'YYYY-MM' }"

/** Throws unless `value` is a 'YYYY-MM' month string. Returns it. */
export function assertMonth(value: unknown, field = 'month'): string {
  const m = typeof value === 'string' ? MONTH.exec(value) : null
  if (!m || Number(m[1]) < 1970) throw new InvalidArgumentError(field, MONTH_ALLOWED, value)
  return value as string
}

/** The zone-local 'YYYY-MM' containing `instant`. */
function monthOf(instant: Date, timeZone: string): string {
  const d = new TZDate(instant.getTime(), timeZone)
  return `${String(d.getFullYear()).padStart(4, '0')}-${String(d.getMonth() + 1).padStart(2, '0')}`
}

/** A 'YYYY-MM' month's range and length in the zone. */
export function monthRange(month: string, timeZone: string): InvoiceMonth {
  const [y, m] = assertMonth(month).split('-').map(Number)
  const start = new TZDate(y, m - 1, 1, timeZone)
  const end = addMonths(start, 1)
  const from = new Date(start.getTime())
  const to = new Date(end.getTime())
  return { month, from, to, timeZone, seconds: BigInt((to.getTime() - from.getTime()) / 1000) }
}

/** The month before `month` ('2027-01' → '2026-12'). */
function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number)
  return m === 1 ? `${String(y - 1).padStart(4, '0')}-12` : `${String(y).padStart(4, '0')}-${String(m - 1).padStart(2, '0')}`
}

/**
 * Resolves an invoice period input in the config's zone: 'last_month' is the month before the one
 * `config.now()` is in; `{ month }` is that month, refused when it is after the current one (its
 * usage has not happened). Bad input is an InvalidArgumentError naming `field`.
 */
export function resolveInvoiceMonth(input: unknown, config: Pick<LlmConfig, 'timeZone' | 'now'>, field = 'period'): InvoiceMonth {
  const current = monthOf(config.now(), config.timeZone)
  if (input === 'last_month') return monthRange(previousMonth(current), config.timeZone)
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidArgumentError(field, PERIOD_ALLOWED, input)
  assertQuery(input, ['month'], field)
  const month = assertMonth((input as { month?: unknown }).month, `${field}.month`)
  if (month > current) {
    throw new InvalidArgumentError(
      `${field}.month`,
      `a month not after the current one (${current} in ${config.timeZone}): ${MONTH_ALLOWED.replace('a month as ', '')}`,
      month,
    )
  }
  return monthRange(month, config.timeZone)
}

/** True once the month is over at `now` (only then may its invoices be finalized). */
export function monthHasEnded(month: Pick<InvoiceMonth, 'to'>, now: Date): boolean {
  return now.getTime() >= month.to.getTime()
}

/** Whole seconds from `from` to `to`, each instant truncated to its second (month boundaries are whole seconds). */
export function secondsBetween(from: Date, to: Date): bigint {
  return BigInt(Math.floor(to.getTime() / 1000) - Math.floor(from.getTime() / 1000))
}
