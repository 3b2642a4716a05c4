import { beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { createLedger, InvalidArgumentError, type RecordExecutionInput } from '../../src/index.ts'

// "Now" is Wednesday 2026-11-18 15:00 UTC. This week (Monday start) = Nov 16..23; last week = Nov 9..16.
const NOW = new Date('2026-11-18T15:00:00.000Z')
const at = (iso: string) => new Date(iso)

const rows: RecordExecutionInput[] = [
  // acme: today x2, yesterday, last week, last month
  {
    tenantId: 'acme',
    agentType: 'Support',
    model: 'gpt-4o',
    inputCost: '0.10',
    outputCost: '0.20',
    inputTokens: 100,
    outputTokens: 50,
    startedAt: at('2026-11-18T09:00:00Z'),
  },
  {
    tenantId: 'acme',
    agentType: 'Search',
    model: 'gpt-4o-mini',
    inputCost: '0.01',
    inputTokens: 10,
    startedAt: at('2026-11-18T00:00:00Z'),
    status: 'error',
    errorClass: 'RateLimitError',
  },
  { tenantId: 'acme', agentType: 'Support', model: 'gpt-4o', inputCost: '1', inputTokens: 1000, startedAt: at('2026-11-17T23:59:59.999Z') },
  {
    tenantId: 'acme',
    agentType: 'Support',
    model: 'claude-sonnet',
    inputCost: '2',
    inputTokens: 2000,
    startedAt: at('2026-11-15T12:00:00Z'),
    status: 'timeout',
  },
  { tenantId: 'acme', agentType: 'Support', model: 'gpt-4o', inputCost: '4', inputTokens: 4000, startedAt: at('2026-10-31T23:00:00Z') },
  // look-alike tenant ids must never alias with "acme"
  { tenantId: 'acme%', agentType: 'Support', model: 'gpt-4o', inputCost: '8', inputTokens: 8, startedAt: at('2026-11-18T10:00:00Z') },
  { tenantId: 'acm_', agentType: 'Support', model: 'gpt-4o', inputCost: '16', inputTokens: 16, startedAt: at('2026-11-18T10:00:00Z') },
  { tenantId: 'acme:b', agentType: 'Support', model: 'gpt-4o', inputCost: '32', inputTokens: 32, startedAt: at('2026-11-18T10:00:00Z') },
  // no tenant
  { agentType: 'Cron', model: 'gpt-4o-mini', inputCost: '0.5', inputTokens: 5, startedAt: at('2026-11-18T11:00:00Z') },
]

describe.each(DATABASES)('period queries on %s', (kind) => {
  const db = useDatabase(kind)
  const ledger = () => createLedger(db().client, { now: () => NOW })
  beforeAll(async () => {
    await ledger().recordExecutions(rows)
  })

  it('cost / tokens / count per named period for one tenant', async () => {
    const l = ledger()
    const q = (period: never) => ({ tenantId: 'acme', period })
    expect((await l.cost(q('today' as never))).toFixed()).toBe('0.31')
    expect((await l.cost(q('yesterday' as never))).toFixed()).toBe('1')
    expect((await l.cost(q('this_week' as never))).toFixed()).toBe('1.31')
    expect((await l.cost(q('last_week' as never))).toFixed()).toBe('2')
    expect((await l.cost(q('this_month' as never))).toFixed()).toBe('3.31')
    expect((await l.cost(q('last_month' as never))).toFixed()).toBe('4')
    expect(await l.tokens({ tenantId: 'acme', period: 'today' })).toBe(160)
    expect(await l.executionCount({ tenantId: 'acme', period: 'this_month' })).toBe(4)
  })

  it('custom range is half-open [from, to) and from > to is rejected', async () => {
    const l = ledger()
    const period = { from: '2026-11-17T23:59:59.999Z', to: '2026-11-18T09:00:00Z' }
    expect((await l.cost({ tenantId: 'acme', period })).toFixed()).toBe('1.01')
    await expect(l.cost({ tenantId: 'acme', period: { from: period.to, to: period.from } })).rejects.toThrow(InvalidArgumentError)
    await expect(l.cost({ tenantId: 'acme', period: { from: period.to, to: period.from } })).rejects.toThrow(/period\.from/)
  })

  it('usage summary has cost, tokens, executions and the resolved period', async () => {
    const s = await ledger().usageSummary({ tenantId: 'acme', period: 'this_month' })
    expect(s.cost.toFixed()).toBe('3.31')
    expect(s.tokens).toBe(3160)
    expect(s.executions).toBe(4)
    expect(s.period).toEqual({ name: 'this_month', from: at('2026-11-01T00:00:00Z'), to: at('2026-12-01T00:00:00Z'), timeZone: 'UTC' })
  })

  it('usage by agent and by model', async () => {
    const byAgent = await ledger().usageByAgent({ tenantId: 'acme', period: 'this_month' })
    expect(Object.keys(byAgent)).toEqual(['Search', 'Support'])
    expect(byAgent.Support.cost.toFixed()).toBe('3.3')
    expect(byAgent.Support).toMatchObject({ tokens: 3150, count: 3 })
    expect(byAgent.Search).toMatchObject({ tokens: 10, count: 1 })
    const byModel = await ledger().usageByModel({ tenantId: 'acme', period: 'this_month' })
    expect(Object.fromEntries(Object.entries(byModel).map(([k, v]) => [k, v.cost.toFixed()]))).toEqual({
      'claude-sonnet': '2',
      'gpt-4o': '1.3',
      'gpt-4o-mini': '0.01',
    })
  })

  it('usage by day zero-fills every day of the period in order', async () => {
    const byDay = await ledger().usageByDay({ tenantId: 'acme', period: 'this_week' })
    expect(Object.keys(byDay)).toEqual(['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22'])
    expect(byDay['2026-11-17'].cost.toFixed()).toBe('1')
    expect(byDay['2026-11-18'].cost.toFixed()).toBe('0.31')
    expect(byDay['2026-11-18'].count).toBe(2)
    expect(byDay['2026-11-16'].count).toBe(0)
  })

  it('usage by day groups by the configured zone, not the database UTC date', async () => {
    // 2026-11-17T23:59:59.999Z is Nov 18 00:59 in Berlin; 2026-11-18T00:00Z is Nov 18 01:00 in Berlin.
    const berlin = createLedger(db().client, { now: () => NOW, timeZone: 'Europe/Berlin' })
    const byDay = await berlin.usageByDay({ tenantId: 'acme', period: 'this_week' })
    expect(byDay['2026-11-17'].count).toBe(0)
    expect(byDay['2026-11-18'].count).toBe(3)
    expect(byDay['2026-11-18'].cost.toFixed()).toBe('1.31')
    // Kathmandu is UTC+5:45: 2026-11-18T09:00Z → 14:45 the same day; 2026-11-17T23:59:59Z → Nov 18 05:44.
    const ktm = createLedger(db().client, { now: () => NOW, timeZone: 'Asia/Kathmandu' })
    const k = await ktm.usageByDay({ tenantId: 'acme', period: 'this_week' })
    expect(k['2026-11-18'].count).toBe(3)
    // Los Angeles (UTC-8): the 00:00Z call is on Nov 17 local, the 09:00Z call on Nov 18.
    const la = createLedger(db().client, { now: () => NOW, timeZone: 'America/Los_Angeles' })
    const d = await la.usageByDay({ tenantId: 'acme', period: 'this_week' })
    expect(d['2026-11-17'].count).toBe(2)
    expect(d['2026-11-18'].count).toBe(1)
  })

  it('recent and failed executions, newest first, with a limit', async () => {
    const recent = await ledger().recentExecutions({ tenantId: 'acme', limit: 2 })
    expect(recent.map((r) => r.startedAt.toISOString())).toEqual(['2026-11-18T09:00:00.000Z', '2026-11-18T00:00:00.000Z'])
    const failed = await ledger().failedExecutions({ tenantId: 'acme', limit: 10 })
    expect(failed.map((r) => r.status)).toEqual(['error', 'timeout'])
    expect(failed[0].errorClass).toBe('RateLimitError')
    await expect(ledger().recentExecutions({ tenantId: 'acme', limit: 0 })).rejects.toThrow(/limit/)
  })

  it('executions with a tenant, without a tenant, of one tenant', async () => {
    const l = ledger()
    const without = await l.executions({ tenant: 'without', limit: 100 })
    expect(without.map((r) => r.agentType)).toEqual(['Cron'])
    const withTenant = await l.executions({ tenant: 'with', limit: 100 })
    expect(withTenant).toHaveLength(8)
    expect(withTenant.every((r) => r.tenantId !== null)).toBe(true)
    expect(await l.executions({ tenant: { id: 'acme%' }, limit: 100 })).toHaveLength(1)
    expect(await l.executions({ limit: 100 })).toHaveLength(9)
    await expect(l.executions({ tenant: 'some' as never })).rejects.toThrow(InvalidArgumentError)
    expect((await l.cost({ tenantId: null, period: 'today' })).toFixed()).toBe('0.5')
    expect((await l.cost({ period: 'today' })).toFixed()).toBe('56.81')
  })

  it('look-alike tenant ids never alias (a%, a_, a:b)', async () => {
    const l = ledger()
    expect((await l.cost({ tenantId: 'acme%', period: 'today' })).toFixed()).toBe('8')
    expect((await l.cost({ tenantId: 'acm_', period: 'today' })).toFixed()).toBe('16')
    expect((await l.cost({ tenantId: 'acme:b', period: 'today' })).toFixed()).toBe('32')
    expect(await l.executionCount({ tenantId: 'acm', period: 'today' })).toBe(0)
  })

  it('cost by tenant: top spenders for a period, without tenant-less calls', async () => {
    const top = await ledger().costByTenant({ period: 'today', limit: 3 })
    expect(top.map((t) => [t.tenantId, t.cost.toFixed(), t.executions])).toEqual([
      ['acme:b', '32', 1],
      ['acm_', '16', 1],
      ['acme%', '8', 1],
    ])
    const all = await ledger().costByTenant({ period: 'this_month', limit: 100 })
    expect(all.map((t) => t.tenantId)).toEqual(['acme:b', 'acm_', 'acme%', 'acme'])
  })

  it.each([
    ['unknown period', { tenantId: 'acme', period: 'weekly' }, 'period'],
    ['period as a number', { tenantId: 'acme', period: 7 }, 'period'],
    ['invalid from', { tenantId: 'acme', period: { from: 'yesterday-ish', to: '2026-11-18' } }, 'period.from'],
    ['tenant id as number', { tenantId: 42, period: 'today' }, 'tenantId'],
    ['tenant id as object', { tenantId: { id: 'acme' }, period: 'today' }, 'tenantId'],
  ])('rejects %s naming the field and the allowed values', async (_n, query, field) => {
    const err = await ledger()
      .usageSummary(query as never)
      .then(
        () => null,
        (e: unknown) => e,
      )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe(field)
    expect((err as Error).message).toContain('Allowed:')
  })
})
