/**
 * What a request brings in, checked before anything is read from or written to the database:
 * the JSON body (a size limit enforced while reading, not after; `Content-Type: application/json`;
 * UTF-8; an object), the query string (only the parameters a route names, each at most once) and
 * path ids (a bounded charset — anything else is an id that does not exist). Every refusal is an
 * HttpError naming the parameter and what it allows.
 */
import { HttpError } from './errors.js'

/** Default largest request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'request_too_large', `The request body is larger than ${maxBytes} bytes`, { param: 'body', limit: maxBytes })
}

function badBody(message: string): HttpError {
  return new HttpError(400, 'invalid_request', message, { param: 'body', allowed: 'a JSON object (Content-Type: application/json)' })
}

/** Reads the body up to `maxBytes` (cancelling the upload past it); null for an empty body. */
async function readBytes(request: Request, maxBytes: number): Promise<Uint8Array | null> {
  const declared = request.headers.get('content-length')
  if (declared !== null && (!/^\d{1,15}$/.test(declared) || Number(declared) > maxBytes)) throw tooLarge(maxBytes)
  if (declared !== null) {
    // The HTTP parser ends the body at its declared length: it can be read whole (the Node bridge
    // reads it without a web stream).
    const bytes = new Uint8Array(await request.arrayBuffer())
    return bytes.byteLength === 0 ? null : bytes
  }
  if (request.body === null) return null
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge(maxBytes)
    }
    chunks.push(value)
  }
  if (size === 0) return null
  const bytes = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.byteLength
  }
  return bytes
}

/**
 * The request's JSON object. `optional`: an empty body (no Content-Type needed) is `{}`.
 * Refuses non-JSON content types, invalid UTF-8, invalid JSON and JSON that is not an object.
 */
export async function readJsonObject(request: Request, maxBytes: number, optional = false): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type')
  const bytes = await readBytes(request, maxBytes)
  if (bytes === null) {
    if (optional) return {}
    throw badBody('The request needs a JSON object body')
  }
  if (type === null || !JSON_TYPE.test(type)) throw badBody('The body must be JSON: send Content-Type: application/json')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw badBody('The body is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw badBody('The body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badBody('The body must be a JSON object')
  return value as Record<string, unknown>
}

/** Throws unless every key of `body` is one of `keys` (a misspelt field is not silently ignored). */
export function assertBodyKeys(body: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!keys.includes(key))
      throw new HttpError(400, 'invalid_request', `Unknown field "${safe(key)}"`, { param: safe(key), allowed: `the fields ${keys.join(', ')}` })
  }
}

/** The query parameters of a route: only those it names, each given at most once. */
export function queryOf(url: URL, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  for (const [key, value] of url.searchParams) {
    if (!allowed.includes(key)) {
      throw new HttpError(400, 'invalid_request', `Unknown query parameter "${safe(key)}"`, {
        param: safe(key),
        allowed: allowed.length ? `the parameters ${allowed.join(', ')}` : 'no query parameters',
      })
    }
    if (key in out) throw new HttpError(400, 'invalid_request', `The query parameter "${key}" is given more than once`, { param: key, allowed: 'one value' })
    out[key] = value
  }
  return out
}

/** One of a fixed set of values, or a 400 listing them. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], param: string): T | undefined {
  if (value === undefined) return undefined
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new HttpError(400, 'invalid_request', `Invalid ${param}: "${safe(value)}"`, { param, allowed: allowed.join(', ') })
}

/** An integer query parameter in [min, max]. */
export function intParam(value: string | undefined, param: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max))
    throw new HttpError(400, 'invalid_request', `Invalid ${param}: "${safe(value)}"`, { param, allowed: `an integer from ${min} to ${max}` })
  return n
}

const ID = /^[A-Za-z0-9_.:-]{1,191}$/

/** A path id: ids the library issues are UUIDs; anything outside the charset cannot exist (404, like an unknown id). */
export function pathId(value: string, what: string): string {
  let id: string
  try {
    id = decodeURIComponent(value)
  } catch {
    id = ''
  }
  if (!ID.test(id)) throw new HttpError(404, 'not_found', `No such ${what}`)
  return id
}

/** Input echoed in a message: printable ASCII only, at most 64 characters. */
function safe(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean
}
