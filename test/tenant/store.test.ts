import { describe, expect, it } from 'vitest'
import { DATABASES, tableCounts, useDatabase } from '../support/databases.ts'
import { InvalidArgumentError, TenantStore } from '../../src/index.ts'

describe.each(DATABASES)('tenant rows on %s', (kind) => {
  const db = useDatabase(kind)
  const store = () => new TenantStore(db().client)

  it('creates with exact cost limits, 0 as a set limit, and defaults', async () => {
    const t = await store().upsert({
      tenantId: 'acme',
      name: 'Acme',
      record: { type: 'Organization', id: 'c0ffee-uuid' },
      limits: { dailyCost: '100.000000001', monthlyCost: 0, dailyTokens: 1_000_000, monthlyExecutions: 10_000 },
      metadata: { plan: 'pro', apiKey: 'sk-should-not-be-stored' },
    })
    expect(t.limits.dailyCost?.toFixed()).toBe('100.000000001')
    expect(t.limits.monthlyCost?.toFixed()).toBe('0')
    expect(t.limits.dailyTokens).toBe(1_000_000)
    expect(t.limits.monthlyTokens).toBeNull()
    expect(t.limits.monthlyExecutions).toBe(10_000)
    expect(t.enforcement).toBeNull()
    expect(t.inheritGlobal).toBe(true)
    expect(t.active).toBe(true)
    expect(t.record).toEqual({ type: 'Organization', id: 'c0ffee-uuid' })
    expect(t.metadata).toEqual({ plan: 'pro', apiKey: '[REDACTED]' })
  })

  it('updates only the given fields; null unsets a limit', async () => {
    const t = await store().update('acme', { limits: { dailyCost: null, dailyExecutions: 5 }, enforcement: 'hard', active: false })
    expect(t.limits.dailyCost).toBeNull()
    expect(t.limits.dailyExecutions).toBe(5)
    expect(t.limits.dailyTokens).toBe(1_000_000)
    expect(t.enforcement).toBe('hard')
    expect(t.active).toBe(false)
    expect((await store().find('acme'))?.name).toBe('Acme')
    expect(await store().find('nobody')).toBeNull()
  })

  it('upsert is idempotent for the same tenant id', async () => {
    await store().upsert({ tenantId: 'dup', name: 'one' })
    await store().upsert({ tenantId: 'dup', name: 'two' })
    const rows = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_tenants WHERE tenant_id = 'dup'`)
    expect(Number(rows[0].n)).toBe(1)
    expect((await store().find('dup'))?.name).toBe('two')
  })

  it('regression: concurrent first upserts of one tenant failed with a unique violation (find-then-create in a transaction)', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store().upsert({ tenantId: 'raced', name: `n${i}` })))
    expect(new Set(results.map((r) => r.id)).size).toBe(1)
    const rows = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_tenants WHERE tenant_id = 'raced'`)
    expect(Number(rows[0].n)).toBe(1)
    const events = await db().rawQuery<{ action: string }>(`SELECT action FROM llm_audit_events WHERE tenant_id = 'raced'`)
    expect(events.filter((e) => e.action === 'tenant.created')).toHaveLength(1)
    expect(events).toHaveLength(8)
  })

  it.each([
    ['negative cost limit', { limits: { dailyCost: -1 } }, 'limits.dailyCost'],
    ['NaN cost limit', { limits: { monthlyCost: Number.NaN } }, 'limits.monthlyCost'],
    ['Infinity token limit', { limits: { dailyTokens: Number.POSITIVE_INFINITY } }, 'limits.dailyTokens'],
    ['fractional execution limit', { limits: { dailyExecutions: 2.5 } }, 'limits.dailyExecutions'],
    ['negative token limit', { limits: { monthlyTokens: -10 } }, 'limits.monthlyTokens'],
    ['non-numeric cost limit', { limits: { dailyCost: 'lots' } }, 'limits.dailyCost'],
    ['unknown limit type', { limits: { hourlyCost: 1 } }, 'limits.hourlyCost'],
    ['unknown enforcement', { enforcement: 'strict' }, 'enforcement'],
    ['non-boolean active', { active: 'yes' }, 'active'],
    ['tenant id as number', { tenantId: 7 }, 'tenantId'],
    ['empty tenant id', { tenantId: '' }, 'tenantId'],
  ])('rejects %s naming the field and allowed values, writing nothing', async (_n, patch, field) => {
    const before = await tableCounts(db())
    const err = await store()
      .upsert({ tenantId: 'bad-input', ...patch } as never)
      .then(
        () => null,
        (e: unknown) => e,
      )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe(field)
    expect((err as Error).message).toContain('Allowed:')
    expect(await tableCounts(db())).toEqual(before)
    expect(await store().find('bad-input')).toBeNull()
  })
})
