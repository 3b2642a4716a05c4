/**
 * Bad rate limits, wherever they are given (the global config, a tenant, a call's override, the
 * tenantConfigResolver, per agent): a typed InvalidArgumentError naming the field and the allowed
 * values, and nothing written.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, tableCounts, useDatabase } from '../support/databases.ts'
import { InvalidArgumentError, LlmBudgets, TenantStore, defineLlmConfig } from '../../src/index.ts'

const BAD_VALUES: Array<[string, unknown]> = [
  ['-1', -1],
  ['NaN', Number.NaN],
  ['1.5', 1.5],
  ['Infinity', Number.POSITIVE_INFINITY],
  ["'60'", '60'],
  ['2e9 (above 1e9)', 2e9],
]
const ALLOWED_VALUE = /an integer from 0 to 1000000000 per window, or null for no limit/
const ALLOWED_KEY =
  /one of the rate limits requestsPerSecond, requestsPerMinute, requestsPerHour, requestsPerDay, tokensPerSecond.*windows: second, minute, hour, day/
const call = { agentType: 'A', model: 'm' }

describe.each(DATABASES)('bad rate limits on %s', (kind) => {
  const db = useDatabase(kind)

  const cases: Array<{ name: string; field: RegExp; allowed: RegExp; run: () => Promise<unknown> | unknown }> = []
  for (const [label, value] of BAD_VALUES) {
    cases.push(
      {
        name: `config rateLimits.requestsPerMinute = ${label}`,
        field: /^config\.budgets\.rateLimits\.requestsPerMinute$/,
        allowed: ALLOWED_VALUE,
        run: () => defineLlmConfig({ budgets: { rateLimits: { requestsPerMinute: value as number } } }),
      },
      {
        name: `tenant rateLimits.tokensPerDay = ${label}`,
        field: /^rateLimits\.tokensPerDay$/,
        allowed: ALLOWED_VALUE,
        run: () => new TenantStore(db().client).upsert({ tenantId: 'bad', rateLimits: { tokensPerDay: value as number } }),
      },
      {
        name: `override rateLimits.requestsPerSecond = ${label}`,
        field: /^tenant\.rateLimits\.requestsPerSecond$/,
        allowed: ALLOWED_VALUE,
        run: () => new LlmBudgets(db().client).track({ id: 'bad', rateLimits: { requestsPerSecond: value as number } }, call, async () => 1),
      },
    )
  }
  cases.push(
    {
      name: 'config rateLimits with an unknown window (requestsPerWeek)',
      field: /^config\.budgets\.rateLimits\.requestsPerWeek$/,
      allowed: ALLOWED_KEY,
      run: () => defineLlmConfig({ budgets: { rateLimits: { requestsPerWeek: 5 } as never } }),
    },
    {
      name: 'tenant agentRateLimits with an unknown window (tokensPerMonth)',
      field: /^agentRateLimits\.Chat\.tokensPerMonth$/,
      allowed: ALLOWED_KEY,
      run: () => new TenantStore(db().client).upsert({ tenantId: 'bad', agentRateLimits: { Chat: { tokensPerMonth: 5 } as never } }),
    },
    {
      name: 'config perAgentRateLimits not an object',
      field: /^config\.budgets\.perAgentRateLimits$/,
      allowed: /agentType/,
      run: () => defineLlmConfig({ budgets: { perAgentRateLimits: 5 as never } }),
    },
    {
      name: 'tenantConfigResolver returning a bad rate limit',
      field: /^tenantConfigResolver\(\)\.rateLimits\.requestsPerHour$/,
      allowed: ALLOWED_VALUE,
      run: () => new LlmBudgets(db().client, { tenantConfigResolver: () => ({ rateLimits: { requestsPerHour: -5 } }) }).track('bad', call, async () => 1),
    },
    {
      name: 'tenantConfigResolver returning a misspelt key',
      field: /^tenantConfigResolver\(\)\.ratelimits$/,
      allowed: /rateLimits/,
      run: () => new LlmBudgets(db().client, { tenantConfigResolver: () => ({ ratelimits: {} }) as never }).track('bad', call, async () => 1),
    },
  )

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await tableCounts(db())
    const [rate] = await db().rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_rate_limits')
    const err = await (async () => c.run())().then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toMatch(c.field)
    expect((err as Error).message).toMatch(c.allowed)
    expect(await tableCounts(db())).toEqual(before)
    const [after] = await db().rawQuery<{ n: unknown }>('SELECT COUNT(*) AS n FROM llm_rate_limits')
    expect(Number(after.n)).toBe(Number(rate.n))
  })
})
