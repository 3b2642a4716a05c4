/**
 * costByTenant against the rows themselves. On SQLite it runs as a loose index scan
 * (src/ledger/top-tenants.ts), on PostgreSQL as Prisma's groupBy: both must give exactly what
 * grouping the period's rows in JS gives — ties, zero-cost tenants, tenants whose rows all lie
 * outside the period, tenant-less rows and sums beyond 2^53 nano-dollars included.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { createLedger, type RecordExecutionInput } from '../../src/index.ts'

// "Now" is after every row (a row may not complete before it starts); the queries name November.
const NOW = new Date('2026-12-10T00:00:00.000Z')
const NOVEMBER = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }
const MONTH = { from: Date.parse('2026-11-01T00:00:00Z'), to: Date.parse('2026-12-01T00:00:00Z') }

/** A small deterministic generator, so a failure reproduces. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
}

function ledgerRows(): RecordExecutionInput[] {
  const next = random(7)
  const rows: RecordExecutionInput[] = []
  for (let i = 0; i < 600; i++) {
    const tenant = Math.floor(next() * 40)
    // Days from 2026-10-20 to 2026-12-05: inside and on both sides of November.
    const startedAt = new Date(Date.parse('2026-10-20T00:00:00Z') + Math.floor(next() * 46 * 86_400_000))
    // Costs on a coarse grid make ties between tenants likely.
    const cost = (Math.floor(next() * 4) * 0.25).toFixed(2)
    rows.push({
      tenantId: next() < 0.1 ? undefined : `t-${String(tenant).padStart(3, '0')}`,
      agentType: 'A',
      model: 'm',
      inputCost: cost,
      inputTokens: Math.floor(next() * 100),
      startedAt,
    })
  }
  // A tenant that only ever spent $0 this month, one whose rows are all outside it, and one beyond 2^53 nanos.
  rows.push({ tenantId: 't-zero', agentType: 'A', model: 'm', inputCost: '0', startedAt: new Date('2026-11-10T00:00:00Z') })
  rows.push({ tenantId: 't-elsewhen', agentType: 'A', model: 'm', inputCost: '5000', startedAt: new Date('2026-10-31T23:59:59.999Z') })
  rows.push({ tenantId: 't-elsewhen', agentType: 'A', model: 'm', inputCost: '5000', startedAt: new Date('2026-12-01T00:00:00Z') })
  for (let i = 0; i < 2; i++)
    rows.push({ tenantId: 't-whale', agentType: 'A', model: 'm', inputCost: '6000000.000000001', startedAt: new Date('2026-11-30T23:59:59.999Z') })
  return rows
}

function expected(rows: RecordExecutionInput[]) {
  const byTenant = new Map<string, { nanos: bigint; tokens: number; executions: number }>()
  for (const r of rows) {
    const t = (r.startedAt as Date).getTime()
    if (!r.tenantId || t < MONTH.from || t >= MONTH.to) continue
    const acc = byTenant.get(r.tenantId) ?? { nanos: 0n, tokens: 0, executions: 0 }
    const [whole, frac = ''] = String(r.inputCost).split('.')
    acc.nanos += BigInt(whole) * 10n ** 9n + BigInt(frac.padEnd(9, '0'))
    acc.tokens += r.inputTokens ?? 0
    acc.executions += 1
    byTenant.set(r.tenantId, acc)
  }
  return [...byTenant]
    .sort(([a, x], [b, y]) => (x.nanos === y.nanos ? (a < b ? -1 : 1) : x.nanos > y.nanos ? -1 : 1))
    .map(([tenantId, v]) => [tenantId, v.nanos.toString(), v.tokens, v.executions])
}

describe.each(DATABASES)('costByTenant on %s equals grouping the rows', (kind) => {
  const db = useDatabase(kind)
  const ledger = () => createLedger(db().client, { now: () => NOW })
  const rows = ledgerRows()
  beforeAll(async () => {
    await ledger().recordExecutions(rows)
  })

  const nanos = (cost: { times(n: number): { toFixed(d: number): string } }) => cost.times(1e9).toFixed(0)

  it.each([1, 3, 10, 1000])('limit %i', async (limit) => {
    const top = await ledger().costByTenant({ period: NOVEMBER, limit })
    expect(top.map((t) => [t.tenantId, nanos(t.cost), t.tokens, t.executions])).toEqual(expected(rows).slice(0, limit))
  })

  it('a $0 tenant is listed, a tenant with no rows in the period is not, and 2^53+ nano-dollars stay exact', async () => {
    const all = await ledger().costByTenant({ period: NOVEMBER, limit: 1000 })
    expect(all[0]).toMatchObject({ tenantId: 't-whale', executions: 2 })
    expect(all[0].cost.toFixed()).toBe('12000000.000000002')
    expect(all.at(-1)).toMatchObject({ tenantId: 't-zero', tokens: 0, executions: 1 })
    expect(all.some((t) => t.tenantId === 't-elsewhen')).toBe(false)
  })

  it('a period with no rows gives an empty list', async () => {
    expect(await ledger().costByTenant({ period: { from: '2030-01-01T00:00:00Z', to: '2030-02-01T00:00:00Z' } })).toEqual([])
  })
})
