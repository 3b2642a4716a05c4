/**
 * The shape of a tenant API key: `<prefix>_<24 random base62><6-char base62 CRC32>` — the shape
 * GitHub's tokens use. 24 base62 characters carry 142 bits of randomness (≥ 128); the checksum
 * over everything before it lets a mistyped or made-up key be refused without a database read;
 * `_` keeps the key whole on double-click. The secret is only ever hashed: SHA-256, or
 * HMAC-SHA-256 with a server pepper (a database dump alone then cannot test guesses). A
 * ≥128-bit random secret needs no slow password hash: that would only add latency per request.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { InvalidArgumentError } from '../foundation/errors.js'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const RANDOM_CHARS = 24
const CHECKSUM_CHARS = 6
/** A prefix: lowercase letters and digits, optionally in `_`-separated parts (`sk`, `sk_live`). */
const PREFIX = /^[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16}){0,2}$/

export function assertKeyPrefix(prefix: unknown, field = 'prefix'): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new InvalidArgumentError(field, "1–3 '_'-separated parts of lowercase letters and digits starting with a letter (e.g. 'sk', 'sk_live')", prefix)
  }
  return prefix
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

function crc32(text: string): number {
  let crc = 0xffffffff
  for (const byte of Buffer.from(text, 'utf8')) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** CRC32 as exactly 6 base62 digits (62^6 > 2^32). */
function checksum(body: string): string {
  let n = crc32(body)
  let out = ''
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = BASE62[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out
}

/** Uniform base62 characters by rejection sampling (no modulo bias). */
function randomBase62(count: number): string {
  let out = ''
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      if (byte < 248) out += BASE62[byte % 62] // 248 = 4 · 62
      if (out.length === count) break
    }
  }
  return out
}

/** `body` (`<prefix>_` and the random part) with its checksum appended. */
export function withChecksum(body: string): string {
  return body + checksum(body)
}

/** A new raw key with the prefix. */
export function generateApiKey(prefix: string): string {
  return withChecksum(`${prefix}_${randomBase62(RANDOM_CHARS)}`)
}

/**
 * Whether `raw` has the shape of a key with this prefix and a correct checksum — decided from the
 * string alone (length first: a 10 kB "key" costs nothing to refuse). The checksum is public
 * information (anyone can compute it), so comparing it needs no constant time.
 */
export function isWellFormedKey(raw: unknown, prefix: string): raw is string {
  if (typeof raw !== 'string' || raw.length !== prefix.length + 1 + RANDOM_CHARS + CHECKSUM_CHARS) return false
  if (!raw.startsWith(`${prefix}_`)) return false
  const tail = raw.slice(prefix.length + 1)
  for (let i = 0; i < tail.length; i++) if (!BASE62.includes(tail[i])) return false
  const body = raw.slice(0, raw.length - CHECKSUM_CHARS)
  return checksum(body) === raw.slice(raw.length - CHECKSUM_CHARS)
}

/** The lookup hash of a raw key: hex SHA-256, or HMAC-SHA-256 with the pepper. */
export function hashApiKey(raw: string, pepper: string | null): string {
  return (pepper ? createHmac('sha256', pepper) : createHash('sha256')).update(raw, 'utf8').digest('hex')
}

/** The visible start of a key, for lists: the prefix and 4 characters (`sk_live_a1B2…`). */
export function keyStart(raw: string, prefix: string): string {
  return raw.slice(0, prefix.length + 1 + 4)
}
