/**
 * What a page or form accepts, checked before anything is read or written: an unknown sort,
 * filter value, period or parameter, a malformed cursor or a bad form value is a 400 page that
 * names the field and what it allows (`PageError`), never a query. Cursors are opaque keyset
 * positions (base64url of the sort key and the row id): a page never uses OFFSET.
 */
import type { InvalidArgumentError } from '../foundation/errors.js'
import { PERIOD_NAMES, type PeriodName } from '../foundation/periods.js'

/** An answer the dashboard decides itself: 400 (field + allowed), 403, 404, 405. */
export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly field?: string,
    readonly allowed?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'PageError'
  }
}

export const notFound = () => new PageError(404, 'Not found', 'There is no such page, or it is not yours to see.')

export function badInput(field: string, allowed: string, value: unknown): PageError {
  const shown = typeof value === 'string' ? (value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value)
  return new PageError(400, 'Bad request', `${field} cannot be "${shown}"`, field, allowed)
}

/** The library's own validation errors become the same 400 (field and allowed). */
export function fromInvalidArgument(err: InvalidArgumentError): PageError {
  const e = err as InvalidArgumentError & { field: string; allowed: string }
  return new PageError(400, 'Bad request', err.message, e.field, e.allowed)
}

/** Rejects parameters the page does not know (a typo must not silently show unfiltered data). */
export function assertParams(url: URL, allowed: readonly string[]): void {
  for (const key of url.searchParams.keys()) {
    if (!allowed.includes(key)) throw badInput('query parameter', allowed.length ? allowed.join(', ') : 'none', key)
  }
  for (const key of allowed) if (url.searchParams.getAll(key).length > 1) throw badInput(key, 'one value', url.searchParams.getAll(key).join(','))
}

/** One of a fixed set, or the default when absent or empty. */
export function oneOf<T extends string>(url: URL, name: string, values: readonly T[], fallback: T): T
export function oneOf<T extends string>(url: URL, name: string, values: readonly T[], fallback?: undefined): T | undefined
export function oneOf<T extends string>(url: URL, name: string, values: readonly T[], fallback?: T): T | undefined {
  const v = url.searchParams.get(name)
  if (v === null || v === '') return fallback
  if (!(values as readonly string[]).includes(v)) throw badInput(name, values.join(', '), v)
  return v as T
}

/** An identifier-like filter value (tenant id, agent type, model, key id), at most `max` characters. */
export function identifier(url: URL, name: string, max = 255): string | undefined {
  const v = url.searchParams.get(name)
  if (v === null || v === '') return undefined
  if (v.length > max || [...v].some((c) => c.charCodeAt(0) < 32)) throw badInput(name, `a value of 1–${max} characters without control characters`, v)
  return v
}

export const DASHBOARD_PERIODS = [...PERIOD_NAMES, 'last_30_days'] as const
export type DashboardPeriod = PeriodName | 'last_30_days'

export interface Cursor {
  /** The sort key of the last row shown (an instant's ms, a number, or text). */
  key: string
  id: string
}

export function encodeCursor(key: string | number | bigint, id: string): string {
  return Buffer.from(JSON.stringify([String(key), id])).toString('base64url')
}

/** The `cursor` parameter, or undefined; a malformed one is a 400. */
export function cursorParam(url: URL, keyPattern: RegExp | ((key: string) => boolean)): Cursor | undefined {
  const v = url.searchParams.get('cursor')
  if (v === null || v === '') return undefined
  const fail = () => badInput('cursor', 'the cursor of a "Next" link', v)
  if (v.length > 1200 || !/^[A-Za-z0-9_-]+$/.test(v)) throw fail()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'))
  } catch {
    throw fail()
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') throw fail()
  const [key, id] = parsed as [string, string]
  if (!(typeof keyPattern === 'function' ? keyPattern(key) : keyPattern.test(key)) || id.length === 0 || id.length > 1024) throw fail()
  return { key, id }
}

/** A form's fields, from a urlencoded or multipart body (at most 64 KiB). */
export async function formFields(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? ''
  const length = Number(request.headers.get('content-length') ?? '0')
  if (length > 65_536) throw new PageError(413, 'Form too large', 'A dashboard form is at most 64 KiB.')
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const text = await request.text()
    if (text.length > 65_536) throw new PageError(413, 'Form too large', 'A dashboard form is at most 64 KiB.')
    return new URLSearchParams(text)
  }
  if (type.startsWith('multipart/form-data')) {
    const data = await request.formData()
    const out = new URLSearchParams()
    data.forEach((v, k) => typeof v === 'string' && out.append(k, v))
    return out
  }
  throw new PageError(415, 'Unsupported form', 'Dashboard forms are posted as application/x-www-form-urlencoded.')
}
