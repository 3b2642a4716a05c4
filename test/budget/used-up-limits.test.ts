/**
 * Regression tests for "a used-up hard cost limit admits calls without an estimate" (and its
 * siblings): the rule of src/ledger/counters/fits.ts — refuse when spent + reserved >= limit, or when
 * spent + reserved + estimate > limit — on every path (SQLite fast path and Prisma path,
 * PostgreSQL single and batched admission), every measure and every scope. Plus the typed fields of
 * the refusal ("BudgetExceededError.limit / current are strings", no retryAfter) and
 * `budgets.defaultEstimate`.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { BudgetExceededError, Decimal, LlmBudgets, TenantStore, createLedger, defineLlmConfig, llmTenant } from '../../src/index.ts'

const ORG_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
}
const call = { agentType: 'Writer', model: 'gpt-4o' }
const report =
  (cost: string, tokens = 0) =>
  async (c: { reportUsage(u: object): void }) =>
    c.reportUsage({ inputCost: cost, inputTokens: tokens })

async function refusal(p: Promise<unknown>): Promise<BudgetExceededError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(BudgetExceededError)
  return err as BudgetExceededError
}

const PATHS = DATABASES.flatMap((kind) => [
  { kind, fastPath: true, label: `${kind} (${kind === 'sqlite' ? 'sqliteFastPath' : 'pgFastPath'})` },
  { kind, fastPath: false, label: `${kind} (through Prisma)` },
])

describe.each(PATHS)('a used-up hard limit on $label', ({ kind, fastPath }) => {
  const database = useDatabase(kind, { fastPath })

  it('a used-up hard cost limit refuses calls without an estimate (was: $6 spent on a $1 hard cap)', async () => {
    await database().client.$executeRawUnsafe(ORG_DDL[kind])
    const prisma = database().client.$extends(llmTenant({ model: 'organization', id: 'slug', budget: true, limits: { dailyCost: 1 }, enforcement: 'hard' }))
    const org = await prisma.organization.create({ data: { slug: 'capped', displayName: 'Capped' } })
    await org.llmTrack({ ...call, estimate: { cost: '1' } }, report('1'))
    expect(await org.llmWithinBudget({ type: 'dailyCost' })).toBe(false)
    await refusal(org.llmCheckBudget())
    let ran = false
    const err = await refusal(
      org.llmTrack(call, async (c) => {
        ran = true
        c.reportUsage({ inputCost: '5' })
      }),
    )
    expect(ran).toBe(false)
    expect(err).toMatchObject({ scope: 'tenant', limitType: 'dailyCost', tenantId: 'capped' })
    expect((await org.llmCostToday()).toFixed()).toBe('1')
    expect(await prisma.organization.llmRefreshCounters()).toMatchObject({ changed: 0 })
  })

  it('dailyCost: 0 with no estimate runs nothing (0 is a set limit)', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'zero', limits: { dailyCost: 0 }, enforcement: 'hard' })
    const b = new LlmBudgets(database().client, { refusalBackoffMs: 0 })
    let ran = false
    await refusal(b.track('zero', call, async () => void (ran = true)))
    await refusal(b.track('zero', { ...call, estimate: { cost: 0, tokens: 0 } }, async () => void (ran = true)))
    expect(ran).toBe(false)
    expect(await createLedger(database().client).executionCount({ tenantId: 'zero', period: 'today' })).toBe(0)
  })

  it('every hard cost and token limit of every scope refuses a zero estimate once used up', async () => {
    const cases: Array<{
      name: string
      tenant: string | null
      config: Parameters<typeof defineLlmConfig>[0]
      setup?: () => Promise<unknown>
      limitType: string
      scope: string
    }> = [
      // Global first: a global counter row starts from the whole day's ledger (the other cases' calls).
      // Without a tenant (a tenant inherits the global values as its own, and its own scope refuses first).
      { name: 'global tokens', tenant: null, config: { budgets: { globalDailyTokens: 100, enforcement: 'hard' } }, limitType: 'dailyTokens', scope: 'global' },
      {
        name: 'tenant tokens',
        tenant: 'tok',
        config: {},
        setup: () => new TenantStore(database().client).upsert({ tenantId: 'tok', limits: { dailyTokens: 100 }, enforcement: 'hard' }),
        limitType: 'dailyTokens',
        scope: 'tenant',
      },
      {
        name: 'tenant monthly cost',
        tenant: 'mon',
        config: {},
        setup: () => new TenantStore(database().client).upsert({ tenantId: 'mon', limits: { monthlyCost: '0.5' }, enforcement: 'hard' }),
        limitType: 'monthlyCost',
        scope: 'tenant',
      },
      {
        name: 'tenant × agent',
        tenant: 'ag',
        config: {},
        setup: () => new TenantStore(database().client).upsert({ tenantId: 'ag', agentLimits: { Writer: { dailyCost: '0.5' } }, enforcement: 'hard' }),
        limitType: 'dailyCost',
        scope: 'agent',
      },
      {
        name: 'global × agent',
        tenant: 'ga',
        config: { budgets: { perAgent: { Glob: { dailyCost: '0.5' } }, enforcement: 'hard' } },
        limitType: 'dailyCost',
        scope: 'agent',
      },
    ]
    for (const c of cases) {
      await c.setup?.()
      const b = new LlmBudgets(database().client, { ...c.config, refusalBackoffMs: 0 })
      const agent = c.name === 'global × agent' ? { ...call, agentType: 'Glob' } : call
      // Use it up exactly (cost $0.50 or 100 tokens), then a call with no estimate must be refused.
      await b.track(c.tenant, { ...agent, estimate: { cost: '0.5', tokens: 100 } }, report('0.5', 100))
      const err = await refusal(b.track(c.tenant, agent, async () => 'ran'))
      expect(err, c.name).toMatchObject({ limitType: c.limitType, scope: c.scope })
      // (The cases use different configs, so only the tenants' own rows are comparable with the ledger.)
      if (c.tenant !== null) expect(await b.refreshCounters({ tenantId: c.tenant }), c.name).toMatchObject({ changed: 0 })
    }
  })

  it('concurrent zero-estimate calls at a used-up limit: none admitted (batched admission included)', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'burst', limits: { dailyCost: '0.25' }, enforcement: 'hard' })
    // No shared spent cache between the calls: every one reaches the database.
    await new LlmBudgets(database().client).track('burst', { ...call, estimate: { cost: '0.25' } }, report('0.25'))
    let ran = 0
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, () => new LlmBudgets(database().client, { refusalBackoffMs: 0 }).track('burst', call, async () => void ran++)),
    )
    expect(ran).toBe(0)
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError)).toBe(true)
    expect((await createLedger(database().client).cost({ tenantId: 'burst', period: 'today' })).toFixed()).toBe('0.25')
  })
})

describe.each(DATABASES)('refusal fields and defaultEstimate on %s', (kind) => {
  const database = useDatabase(kind)

  it('BudgetExceededError.limit / current are typed by limitType (Decimal for cost, number otherwise), with retryAfter', async () => {
    // 23:30 on 31 January in Tokyo: the day resets in 30 minutes, the month on 1 February 00:00 JST.
    const now = new Date('2026-01-31T14:30:00.000Z')
    const config = defineLlmConfig({ timeZone: 'Asia/Tokyo', now: () => now, refusalBackoffMs: 0 })
    await new TenantStore(database().client).upsert({
      tenantId: 'typed',
      limits: { dailyCost: '0.3', monthlyTokens: 50, dailyExecutions: 5 },
      maxConcurrent: 1,
      enforcement: 'hard',
    })
    const b = new LlmBudgets(database().client, config)
    await b.track('typed', { ...call, estimate: { cost: '0.2', tokens: 10 } }, report('0.2', 10))
    const cost = await refusal(b.track('typed', { ...call, estimate: { cost: '0.15' } }, async () => 1))
    if (cost.limitType !== 'dailyCost' && cost.limitType !== 'monthlyCost') throw new Error(`expected a cost refusal, got ${cost.limitType}`)
    // The narrowed type is Decimal: arithmetic without parsing.
    expect(cost.limit.minus(cost.current).toFixed()).toBe('0.1')
    expect(cost.limit).toBeInstanceOf(Decimal)
    expect(cost.retryAfter?.toISOString()).toBe('2026-01-31T15:00:00.000Z')
    expect(cost.retryAfterSeconds).toBe(1800)
    const tokens = await refusal(b.track('typed', { ...call, estimate: { tokens: 45 } }, async () => 1))
    expect(tokens).toMatchObject({ limitType: 'monthlyTokens', limit: 50, current: 10, retryAfterSeconds: 1800 })
    expect(tokens.retryAfter?.toISOString()).toBe('2026-01-31T15:00:00.000Z') // 1 February 00:00 in Tokyo
    expect(typeof tokens.limit).toBe('number')
    let release!: () => void
    const held = b.track('typed', call, () => new Promise<void>((r) => (release = r)))
    while (!release) await new Promise((r) => setTimeout(r, 5))
    const concurrent = await refusal(b.track('typed', call, async () => 1))
    expect(concurrent).toMatchObject({ limitType: 'maxConcurrent', limit: 1, current: 1, retryAfter: null, retryAfterSeconds: null })
    release()
    await held
  })

  it('budgets.defaultEstimate reserves for calls that give none; an under-estimate records its real cost and the next call is refused', async () => {
    await new TenantStore(database().client).upsert({ tenantId: 'est', limits: { dailyCost: '1' }, enforcement: 'hard' })
    const b = new LlmBudgets(database().client, { budgets: { defaultEstimate: { cost: '0.4', tokens: 10 } }, refusalBackoffMs: 0 })
    let reserved: unknown
    await b.track('est', call, async (c) => {
      reserved = (await b.status('est')).limits.dailyCost.reserved.toString()
      c.reportUsage({ inputCost: '0.1' })
    })
    expect(reserved).toBe('0.4')
    // $0.10 spent; the default $0.40 estimate fits: admitted, and it reports $0.95 (an under-estimate).
    await b.track('est', call, report('0.95'))
    expect((await createLedger(database().client).cost({ tenantId: 'est', period: 'today' })).toFixed()).toBe('1.05')
    // Used up: the next call is refused even though its own estimate is 0.
    await refusal(b.track('est', { ...call, estimate: { cost: 0 } }, async () => 1))
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })
})
