/**
 * Bad input to the plan store: each a typed error naming the field and the allowed values (or the
 * plan that does not exist), and nothing written — every plan, assignment and tenant table's row
 * count is checked.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, tableCounts, useDatabase, type TestDatabase } from '../support/databases.ts'
import { InvalidArgumentError, PlanExistsError, PlanNotFoundError, createPlans } from '../../src/index.ts'

async function counts(db: TestDatabase) {
  const [plans] = await db.rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_plans')
  const [assignments] = await db.rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_tenant_plans')
  return { ...(await tableCounts(db)), plans: Number(plans.n), assignments: Number(assignments.n) }
}

describe.each(DATABASES)('bad plan input on %s', (kind) => {
  const db = useDatabase(kind)
  const plans = () => createPlans(db().client)
  const base = { key: 'basic', name: 'Basic' }

  const invalid: Array<[string, RegExp, RegExp, () => Promise<unknown>]> = [
    ['a key with capitals', /^plan\.key$/, /lowercase letters, digits/, () => plans().definePlan({ ...base, key: 'Pro' })],
    ['an empty name', /^plan\.name$/, /non-empty string/, () => plans().definePlan({ ...base, name: '' })],
    ['an unknown option', /^plan\.tier$/, /one of: key, name/, () => plans().definePlan({ ...base, tier: 1 } as never)],
    ['a negative limit', /^plan\.limits\.dailyExecutions$/, /integer from 0/, () => plans().definePlan({ ...base, limits: { dailyExecutions: -1 } })],
    [
      'a NaN rate limit',
      /^plan\.rateLimits\.requestsPerMinute$/,
      /integer from 0 to 1000000000/,
      () => plans().definePlan({ ...base, rateLimits: { requestsPerMinute: Number.NaN } }),
    ],
    [
      'a non-integer rate limit',
      /^plan\.rateLimits\.tokensPerDay$/,
      /integer from 0 to 1000000000/,
      () => plans().definePlan({ ...base, rateLimits: { tokensPerDay: 2.5 } }),
    ],
    [
      'a negative rate limit',
      /^plan\.rateLimits\.requestsPerSecond$/,
      /integer from 0/,
      () => plans().definePlan({ ...base, rateLimits: { requestsPerSecond: -3 } }),
    ],
    [
      'an unknown window',
      /^plan\.rateLimits\.requestsPerFortnight$/,
      /windows: second, minute, hour, day/,
      () => plans().definePlan({ ...base, rateLimits: { requestsPerFortnight: 1 } as never }),
    ],
    ['an unknown enforcement', /^plan\.enforcement$/, /none, soft, hard/, () => plans().definePlan({ ...base, enforcement: 'strict' as never })],
    [
      'a negative price',
      /^plan\.prices\.baseFee$/,
      /non-negative amount with at most 9 decimal places/,
      () => plans().definePlan({ ...base, prices: { baseFee: '-1' } }),
    ],
    [
      'a price finer than a nano-unit',
      /^plan\.prices\.overagePer1kTokens$/,
      /at most 9 decimal places/,
      () => plans().definePlan({ ...base, prices: { overagePer1kTokens: '0.0000000001' } }),
    ],
    [
      'a price that is not a number',
      /^plan\.prices\.includedCost$/,
      /non-negative amount/,
      () => plans().definePlan({ ...base, prices: { includedCost: 'ten' } }),
    ],
    [
      'a markup finer than ppm',
      /^plan\.prices\.costMarkup$/,
      /at most 4 decimal places/,
      () => plans().definePlan({ ...base, prices: { costMarkup: '12.34567' } }),
    ],
    ['a currency that is not ISO 4217', /^plan\.prices\.currency$/, /3-letter ISO 4217/, () => plans().definePlan({ ...base, prices: { currency: 'usd' } })],
    [
      'fractional included tokens',
      /^plan\.prices\.includedTokens$/,
      /whole number of tokens/,
      () => plans().definePlan({ ...base, prices: { includedTokens: 1.5 } }),
    ],
    ["a change 'at' that is neither value", /^options\.at$/, /'now' or 'period_end'/, () => plans().changePlan('t', 'existing', { at: 'tomorrow' as never })],
    ['a change with a version of 0', /^options\.version$/, /integer version >= 1/, () => plans().changePlan('t', 'existing', { version: 0 })],
    ['a move without versions', /^options\.from$/, /integer version >= 1/, () => plans().movePlanVersion('existing', {} as never)],
    ['a tenant id that is empty', /^tenantId$/, /non-empty string/, () => plans().changePlan('', 'existing')],
    ['an update that changes the key', /^changes\.key$/, /a plan key cannot change/, () => plans().updatePlan('existing', { key: 'other' } as never)],
  ]

  it.each(invalid)('%s: InvalidArgumentError naming the field, nothing written', async (_name, field, allowed, run) => {
    await plans()
      .definePlan({ key: 'existing', name: 'Existing' })
      .catch((e: unknown) => (e instanceof PlanExistsError ? null : Promise.reject(e)))
    const before = await counts(db())
    const err = await run().then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toMatch(field)
    expect((err as Error).message).toMatch(allowed)
    expect(await counts(db())).toEqual(before)
  })

  it.each([
    ['an unknown plan key', () => plans().changePlan('t', 'missing'), PlanNotFoundError],
    ['a version that does not exist', () => plans().changePlan('t', 'existing', { version: 7 }), PlanNotFoundError],
    ['moving to a version that does not exist', () => plans().movePlanVersion('existing', { from: 1, to: 4 }), PlanNotFoundError],
    ['updating a plan that does not exist', () => plans().updatePlan('missing', { name: 'x' }), PlanNotFoundError],
    ['defining a plan twice', () => plans().definePlan({ key: 'existing', name: 'Again' }), PlanExistsError],
  ] as const)('%s: a typed error, nothing written', async (_name, run, type) => {
    await plans()
      .definePlan({ key: 'existing', name: 'Existing' })
      .catch((e: unknown) => (e instanceof PlanExistsError ? null : Promise.reject(e)))
    const before = await counts(db())
    await expect(run()).rejects.toBeInstanceOf(type)
    expect(await counts(db())).toEqual(before)
  })
})
