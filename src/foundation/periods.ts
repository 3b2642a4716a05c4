/**
 * Periods. One rule everywhere: calendar periods are computed in the configured IANA time zone
 * (default UTC), weeks start on the configured day (default Monday), and every period is the
 * half-open instant range [from, to). Day grouping uses the same zone.
 */
import { TZDate } from '@date-fns/tz'
import { addDays, addMonths, addWeeks, startOfDay, startOfMonth, startOfWeek } from 'date-fns'
import { InvalidArgumentError } from './errors.js'

export const PERIOD_NAMES = ['today', 'yesterday', 'this_week', 'last_week', 'this_month', 'last_month'] as const
export type PeriodName = (typeof PERIOD_NAMES)[number]
export type WeekStartsOn = 0 | 1 | 2 | 3 | 4 | 5 | 6

/** A named calendar period, or a custom half-open range `{ from, to }` (Dates or ISO strings). */
export type PeriodInput = PeriodName | { from: Date | string; to: Date | string }

export interface ResolvedPeriod {
  name: PeriodName | 'custom'
  /** Inclusive start instant. */
  from: Date
  /** Exclusive end instant. */
  to: Date
  timeZone: string
}

export interface PeriodOptions {
  timeZone: string
  weekStartsOn: WeekStartsOn
  /** The clock; injectable so tests and replays are deterministic. */
  now?: () => Date
}

const ALLOWED_PERIODS = `${PERIOD_NAMES.join(', ')} or { from, to } with from <= to`

/** Zones already proven valid (resolvePeriod checks its zone on every call; Intl is not free). */
const knownZones = new Set<string>(['UTC'])

/** Throws unless `timeZone` is an IANA zone name the runtime knows. Returns it unchanged. */
export function validateTimeZone(timeZone: unknown, field = 'timeZone'): string {
  const allowed = 'an IANA time zone name such as "UTC" or "Europe/Berlin"'
  if (typeof timeZone !== 'string' || timeZone.trim() === '') throw new InvalidArgumentError(field, allowed, timeZone)
  if (knownZones.has(timeZone)) return timeZone
  try {
    new Intl.DateTimeFormat('en-US', { timeZone }).format(0)
  } catch {
    throw new InvalidArgumentError(field, allowed, timeZone)
  }
  if (knownZones.size < 1000) knownZones.add(timeZone)
  return timeZone
}

export function validateWeekStartsOn(value: unknown, field = 'weekStartsOn'): WeekStartsOn {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 6) {
    throw new InvalidArgumentError(field, 'an integer 0-6 (0 = Sunday, 1 = Monday)', value)
  }
  return value as WeekStartsOn
}

function toInstant(value: unknown, field: string): Date {
  const allowed = 'a valid Date or ISO-8601 string'
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidArgumentError(field, allowed, value)
    return new Date(value.getTime())
  }
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value)) {
    const date = new Date(value)
    if (!Number.isNaN(date.getTime())) return date
  }
  throw new InvalidArgumentError(field, allowed, value)
}

/** Resolves a period to its instant range in the configured zone. */
export function resolvePeriod(input: unknown, options: PeriodOptions, field = 'period'): ResolvedPeriod {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', '{ timeZone, weekStartsOn, now? } (e.g. the config from defineLlmConfig)', options)
  }
  const timeZone = validateTimeZone(options.timeZone, 'options.timeZone')
  const weekStartsOn = validateWeekStartsOn(options.weekStartsOn, 'options.weekStartsOn')
  if (options.now !== undefined && typeof options.now !== 'function') throw new InvalidArgumentError('options.now', 'a function returning a Date', options.now)
  if (typeof input === 'object' && input !== null && !Array.isArray(input) && !(input instanceof Date)) {
    const range = input as { from?: unknown; to?: unknown }
    const from = toInstant(range.from, `${field}.from`)
    const to = toInstant(range.to, `${field}.to`)
    if (from.getTime() > to.getTime()) {
      throw new InvalidArgumentError(`${field}.from`, `a date not after ${field}.to (${to.toISOString()})`, from)
    }
    return { name: 'custom', from, to, timeZone }
  }
  if (typeof input !== 'string' || !(PERIOD_NAMES as readonly string[]).includes(input)) {
    throw new InvalidArgumentError(field, ALLOWED_PERIODS, input)
  }
  const name = input as PeriodName
  const now = new TZDate((options.now?.() ?? new Date()).getTime(), timeZone)
  const today = startOfDay(now)
  const week = startOfWeek(now, { weekStartsOn })
  const month = startOfMonth(now)
  const ranges: Record<PeriodName, [Date, Date]> = {
    today: [today, addDays(today, 1)],
    yesterday: [addDays(today, -1), today],
    this_week: [week, addWeeks(week, 1)],
    last_week: [addWeeks(week, -1), week],
    this_month: [month, addMonths(month, 1)],
    last_month: [addMonths(month, -1), month],
  }
  const [from, to] = ranges[name]
  return { name, from: new Date(from.getTime()), to: new Date(to.getTime()), timeZone }
}

/** `YYYY-MM-DD` of an instant in the zone. */
export function dayKey(instant: Date, timeZone: string): string {
  const d = new TZDate(instant.getTime(), timeZone)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

export interface DayBucket {
  key: string
  start: Date
  end: Date
}

/** The zone-local days overlapping [from, to), each clipped to the range. DST-correct (23/25 h days). */
export function daysOf(period: Pick<ResolvedPeriod, 'from' | 'to' | 'timeZone'>): DayBucket[] {
  const days: DayBucket[] = []
  if (period.from.getTime() >= period.to.getTime()) return days
  let start = startOfDay(new TZDate(period.from.getTime(), period.timeZone))
  while (start.getTime() < period.to.getTime()) {
    const next = addDays(start, 1)
    days.push({
      key: dayKey(start, period.timeZone),
      start: new Date(Math.max(start.getTime(), period.from.getTime())),
      end: new Date(Math.min(next.getTime(), period.to.getTime())),
    })
    start = next
  }
  return days
}

/** Start of the zone-local day or month containing `instant` (used for budget counter buckets). */
export function bucketStart(kind: 'day' | 'month', instant: Date, timeZone: string): Date {
  const local = new TZDate(instant.getTime(), timeZone)
  return new Date((kind === 'day' ? startOfDay(local) : startOfMonth(local)).getTime())
}
