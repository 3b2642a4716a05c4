/**
 * Currencies for billing: each ISO 4217 code's minor unit (2 digits for USD and EUR, 0 for JPY, 3
 * for KWD — from the runtime's ICU data), amounts that must be whole minor units (a base fee, an
 * adjustment: more precision than the currency has is refused, never rounded), and the one rounding
 * rule invoices use: an exact rational amount in nano-units rounded half-up to the minor unit, once.
 * Money stays integer nano-units (`bigint`, 1 unit = 1e9 nanos) throughout, as in money.ts.
 */
import { Decimal as DecimalJs } from 'decimal.js'
import { InvalidArgumentError } from './errors.js'
import { Decimal, MAX_NANOS, NANOS_PER_USD } from './money.js'

const digitsCache = new Map<string, number>()

/** The number of decimal digits of the currency's minor unit (2 for USD, 0 for JPY, 3 for KWD). */
export function currencyDigits(currency: string): number {
  let digits = digitsCache.get(currency)
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en-US', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
    digits = Math.min(9, Math.max(0, digits))
    if (digitsCache.size < 1000) digitsCache.set(currency, digits)
  }
  return digits
}

/** Nano-units in one minor unit of the currency (10,000,000 for a cent). */
function nanosPerMinorUnit(currency: string): bigint {
  return 10n ** BigInt(9 - currencyDigits(currency))
}

/** `num / den` nano-units rounded half-up (away from zero on a tie) to a whole minor unit; `den` > 0. */
export function roundToMinorUnit(num: bigint, den: bigint, currency: string): bigint {
  if (den <= 0n) throw new RangeError('roundToMinorUnit: the denominator must be positive')
  const unit = nanosPerMinorUnit(currency)
  const d = den * unit
  const magnitude = num < 0n ? -num : num
  const units = (2n * magnitude + d) / (2n * d)
  return (num < 0n ? -units : units) * unit
}

/** `num / den` rounded half-up to a whole number (for prorated allowances); `num` >= 0, `den` > 0. */
export function roundHalfUp(num: bigint, den: bigint): bigint {
  return (2n * num + den) / (2n * den)
}

/** True when `nanos` is a whole number of the currency's minor units. */
export function isWholeMinorUnits(nanos: bigint, currency: string): boolean {
  return nanos % nanosPerMinorUnit(currency) === 0n
}

/**
 * An amount in the currency, as given (a decimal string such as "-10.00", a number or a Decimal):
 * at most the minor unit's digits, negative only when `signed`, non-zero when `nonZero`. Returns
 * its nano-units. Anything else is an InvalidArgumentError naming `field`, before anything is written.
 */
export function parseMinorAmount(value: unknown, currency: string, field: string, options: { signed?: boolean; nonZero?: boolean } = {}): bigint {
  const digits = currencyDigits(currency)
  const sign = options.signed ? 'a' : 'a non-negative'
  const allowed = `${sign}${options.nonZero ? ', non-zero' : ''} amount in ${currency} with at most ${digits} decimal place${digits === 1 ? '' : 's'} (its minor unit), as a decimal string such as "${options.signed ? '-' : ''}10${digits > 0 ? `.${'0'.repeat(digits)}` : ''}", a number or a Decimal`
  let d: DecimalJs
  try {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error('not finite')
      d = new Decimal(String(value))
    } else if (typeof value === 'string' && /^\s*[+-]?\d+(\.\d+)?\s*$/.test(value)) d = new Decimal(value.trim())
    else if (value instanceof DecimalJs || (value !== null && typeof value === 'object' && typeof (value as { toFixed?: unknown }).toFixed === 'function'))
      d = new Decimal((value as { toFixed(): string }).toFixed())
    else throw new Error('not an amount')
  } catch {
    throw new InvalidArgumentError(field, allowed, value)
  }
  if (!d.isFinite() || d.decimalPlaces() > digits || (!options.signed && d.isNegative()) || (options.nonZero && d.isZero())) {
    throw new InvalidArgumentError(field, allowed, value)
  }
  const nanos = BigInt(d.times(NANOS_PER_USD.toString()).toFixed(0))
  if (nanos > MAX_NANOS || nanos < -MAX_NANOS) throw new InvalidArgumentError(field, allowed, value)
  return nanos
}

/** Nano-units as a decimal string with exactly the currency's minor digits ("49.00", "-3.10", "4900"). */
export function formatMinor(nanos: bigint, currency: string): string {
  return new Decimal(nanos.toString()).dividedBy(NANOS_PER_USD.toString()).toFixed(currencyDigits(currency))
}
