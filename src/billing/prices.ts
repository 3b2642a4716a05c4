/**
 * What a plan version bills by, read from its `llm_plans` row and checked before an invoicing run
 * writes anything: a version must state prices (a free plan says `baseFee: '0'`), its base fee must
 * be whole minor units of its currency, and billing provider cost (`includedCost` / `costMarkup`)
 * needs USD — the ledger's costs are USD and there is no exchange rate here. Every version a run
 * will price is loaded and checked once, up front; a tenant whose versions within one month have
 * different currencies is refused too (an invoice has one currency).
 */
import { currencyDigits, formatMinor, isWholeMinorUnits } from '../foundation/currency.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import type { LlmPrismaClient } from '../db/client.js'
import { PlanNotFoundError } from '../plans/errors.js'

/** A plan version's prices, in integer nano-units of `currency` (tokens as counts, markup in ppm). */
export interface PriceTerms {
  planId: string
  key: string
  version: number
  name: string
  currency: string
  baseFeeNanos: bigint | null
  includedTokens: bigint | null
  includedCostNanos: bigint | null
  overagePer1kTokensNanos: bigint | null
  /** Markup on provider cost beyond the included cost, parts per million (200000 = +20%). */
  costMarkupPpm: bigint | null
}

const PRICE_FIELDS = 'baseFee, includedTokens, overagePer1kTokens, includedCost or costMarkup'

const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(v as bigint | number | string))

/** The field path of a version's price in errors: `plans.pro@2.prices.baseFee`. */
const priceField = (terms: Pick<PriceTerms, 'key' | 'version'>, price?: string) => `plans.${terms.key}@${terms.version}.prices${price ? `.${price}` : ''}`

/** Tokens are billed when the version includes some or prices overage. */
export const billsTokens = (t: PriceTerms) => t.includedTokens !== null || t.overagePer1kTokensNanos !== null

/** Provider cost is billed when the version includes some or marks it up. */
export const billsCost = (t: PriceTerms) => t.includedCostNanos !== null || t.costMarkupPpm !== null

/** A plan row's prices, checked (InvalidArgumentError naming the version's price field). */
function priceTermsOf(row: Record<string, unknown>): PriceTerms {
  const terms: PriceTerms = {
    planId: String(row.id),
    key: String(row.key),
    version: Number(row.version),
    name: String(row.name),
    currency: typeof row.currency === 'string' ? row.currency : 'USD',
    baseFeeNanos: big(row.baseFeeNanos),
    includedTokens: big(row.includedTokens),
    includedCostNanos: big(row.includedCostNanos),
    overagePer1kTokensNanos: big(row.overagePer1kTokensNanos),
    costMarkupPpm: big(row.costMarkupPpm),
  }
  if (terms.baseFeeNanos === null && !billsTokens(terms) && !billsCost(terms)) {
    throw new InvalidArgumentError(
      priceField(terms),
      `prices to bill by — any of ${PRICE_FIELDS} (a free plan sets baseFee: '0'); set them with updatePlan`,
      'a plan version without prices',
    )
  }
  const negative = Object.entries(terms).find(([, v]) => typeof v === 'bigint' && v < 0n)
  if (negative) throw new InvalidArgumentError(priceField(terms, negative[0].replace(/Nanos$|Ppm$/, '')), 'a non-negative price', String(negative[1]))
  if (terms.baseFeeNanos !== null && !isWholeMinorUnits(terms.baseFeeNanos, terms.currency)) {
    const digits = currencyDigits(terms.currency)
    throw new InvalidArgumentError(
      priceField(terms, 'baseFee'),
      `an amount with at most ${digits} decimal place${digits === 1 ? '' : 's'} (the minor unit of ${terms.currency}), e.g. "${formatMinor(49n * 10n ** 9n, terms.currency)}"`,
      (Number(terms.baseFeeNanos) / 1e9).toString(),
    )
  }
  if (billsCost(terms) && terms.currency !== 'USD') {
    throw new InvalidArgumentError(
      priceField(terms, 'currency'),
      "'USD' for a plan that bills provider cost (includedCost / costMarkup): the ledger's costs are USD",
      terms.currency,
    )
  }
  return terms
}

/** A plan version an assignment names (its row id, and key/version for the error when it is gone). */
export interface PlanRef {
  planId: string
  planKey: string
  planVersion: number
}

/**
 * Loads and checks every version in `refs` (PlanNotFoundError when a version was deleted after a
 * tenant was on it: its prices are gone, so that month cannot be priced).
 */
export async function loadPriceTerms(db: LlmPrismaClient, refs: readonly PlanRef[]): Promise<Map<string, PriceTerms>> {
  const ids = [...new Set(refs.map((r) => r.planId))]
  const terms = new Map<string, PriceTerms>()
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await db.llmPlan.findMany({ where: { id: { in: ids.slice(i, i + 500) } } })) as Array<Record<string, unknown>>
    for (const row of rows) terms.set(String(row.id), priceTermsOf(row))
  }
  const missing = refs.find((r) => !terms.has(r.planId))
  if (missing) throw new PlanNotFoundError(missing.planKey, missing.planVersion)
  return terms
}

/** Throws when one tenant's versions in the month do not share a currency. */
export function assertOneCurrency(tenantId: string, versions: readonly PriceTerms[]): void {
  const currencies = [...new Set(versions.map((v) => v.currency))]
  if (currencies.length > 1) {
    throw new InvalidArgumentError(
      'prices.currency',
      `one currency for every plan version a tenant is on within a month (tenant "${tenantId}" has ${currencies.join(' and ')}: ${versions
        .map((v) => `${v.key}@${v.version}`)
        .join(', ')})`,
      currencies.join(', '),
    )
  }
}
