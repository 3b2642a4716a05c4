/**
 * Exact money. Storage and arithmetic use integer nano-USD (`bigint`, 1 USD = 1e9 nanos); the API
 * speaks decimal.js `Decimal` dollars. JS numbers are accepted as *input* only and converted through
 * their shortest decimal representation (never multiplied as floats).
 */
import { Decimal as DecimalJs } from 'decimal.js'
import { InvalidArgumentError } from './errors.js'

/** A Decimal constructor with enough precision for any int64 nano amount (19 digits) and beyond. */
export const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_UP })
export type Decimal = DecimalJs

export const NANOS_PER_USD = 1_000_000_000n
/** Largest value a BIGINT column holds. */
export const MAX_NANOS = 9_223_372_036_854_775_807n

/** Anything we accept as a dollar amount. */
export type UsdInput = DecimalJs | string | number | { toFixed(dp?: number): string }

/** Parses a dollar amount to whole nanos (half-up for sub-nano digits). Rejects negatives, NaN, ∞. */
export function usdToNanos(value: UsdInput, field: string): bigint {
  const allowed = 'a finite, non-negative dollar amount (number, numeric string or Decimal)'
  let dec: DecimalJs
  try {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new InvalidArgumentError(field, allowed, value)
      dec = new Decimal(String(value))
    } else if (typeof value === 'string') {
      if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) throw new InvalidArgumentError(field, allowed, value)
      dec = new Decimal(value.trim())
    } else if (value instanceof DecimalJs || isDecimalLike(value)) {
      dec = new Decimal(value.toFixed())
    } else {
      throw new InvalidArgumentError(field, allowed, value)
    }
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err
    throw new InvalidArgumentError(field, allowed, value)
  }
  if (!dec.isFinite() || dec.isNegative()) throw new InvalidArgumentError(field, allowed, value)
  const nanos = BigInt(dec.times(NANOS_PER_USD.toString()).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0))
  if (nanos > MAX_NANOS) throw new InvalidArgumentError(field, `at most $${nanosToUsd(MAX_NANOS).toFixed()}`, value)
  return nanos
}

/** Integer nanos (bigint, or the number/string a driver may return for an aggregate) → dollars. */
export function nanosToUsd(nanos: bigint | number | string | null | undefined): DecimalJs {
  if (nanos === null || nanos === undefined) return new Decimal(0)
  return new Decimal(nanos.toString()).dividedBy(NANOS_PER_USD.toString())
}

/** Normalises an aggregate result (bigint, number, numeric string, Decimal, null) to bigint nanos. */
export function toNanos(value: unknown): bigint {
  if (value === null || value === undefined) return 0n
  if (typeof value === 'bigint') return value
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`unsafe integer aggregate: ${value}`)
    return BigInt(value)
  }
  if (typeof value === 'string') return BigInt(value.includes('.') ? value.replace(/\.0*$/, '') : value)
  if (isDecimalLike(value)) return BigInt(value.toFixed(0))
  throw new TypeError(`unexpected aggregate value of type ${typeof value}`)
}

function isDecimalLike(value: unknown): value is { toFixed(dp?: number): string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toFixed?: unknown }).toFixed === 'function' &&
    typeof (value as { isFinite?: unknown }).isFinite === 'function'
  )
}
