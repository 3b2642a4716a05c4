/**
 * The small caches on the hot path must never change an answer: the zone-day bucket cache (every
 * call's counter keys), the tenant-row cache's shared loads, and the prepared-statement names.
 */
import { describe, expect, it } from 'vitest'
import { buckets } from '../../src/ledger/counters/keys.ts'
import { TenantRowCache, type TenantRow } from '../../src/tenant/loader.ts'
import { preparedStatementName } from '../../src/index.ts'
import { bumpTenantVersion } from '../../src/tenant/versions.ts'

describe('day buckets (cached per zone-day)', () => {
  it('switch exactly at the zone’s midnight, through DST days, backwards in time, and per zone', () => {
    const at = (iso: string) => buckets(new Date(iso), 'America/New_York')
    // 2026-03-08 is a 23-hour day in New York (EST → EDT).
    expect(at('2026-03-08T04:59:59.999Z')).toEqual({ day: '2026-03-07', month: '2026-03' })
    expect(at('2026-03-08T05:00:00.000Z')).toEqual({ day: '2026-03-08', month: '2026-03' })
    expect(at('2026-03-09T03:59:59.999Z')).toEqual({ day: '2026-03-08', month: '2026-03' })
    expect(at('2026-03-09T04:00:00.000Z')).toEqual({ day: '2026-03-09', month: '2026-03' })
    // Back in time (a test clock, a backfill): the cached day must not answer for an earlier instant.
    expect(at('2026-03-08T04:59:59.999Z')).toEqual({ day: '2026-03-07', month: '2026-03' })
    // 2026-11-01 is a 25-hour day (EDT → EST); month boundary in the zone, not in UTC.
    expect(at('2026-11-01T04:00:00.000Z')).toEqual({ day: '2026-11-01', month: '2026-11' })
    expect(at('2026-11-02T04:59:59.999Z')).toEqual({ day: '2026-11-01', month: '2026-11' })
    expect(at('2026-11-01T03:59:59.999Z')).toEqual({ day: '2026-10-31', month: '2026-10' })
    // Zones alternate without answering for each other (+12:45 Chatham vs UTC).
    const instant = new Date('2026-06-30T12:00:00.000Z')
    expect(buckets(instant, 'Pacific/Chatham')).toEqual({ day: '2026-07-01', month: '2026-07' })
    expect(buckets(instant, 'UTC')).toEqual({ day: '2026-06-30', month: '2026-06' })
    expect(buckets(instant, 'Pacific/Chatham')).toEqual({ day: '2026-07-01', month: '2026-07' })
  })
})

describe('tenant-row cache', () => {
  const row = (v: string): TenantRow => ({ tenantId: 'c', v })

  it('concurrent misses share one load; a load started before a local write is not shared after it', { timeout: 5_000 }, async () => {
    const cache = new TenantRowCache(60_000)
    let loads = 0
    let finish!: (r: TenantRow) => void
    const slow = () => (loads++, new Promise<TenantRow>((r) => (finish = r)))
    const first = Array.from({ length: 10 }, () => cache.get('rc-1', slow))
    expect(loads).toBe(1)
    finish(row('old'))
    expect(await Promise.all(first)).toEqual(Array(10).fill(row('old')))
    expect(await cache.get('rc-1', slow)).toEqual(row('old')) // cached: no new load
    expect(loads).toBe(1)

    // A write through this library bumps the version while a reload is in flight.
    bumpTenantVersion('rc-1')
    const stale = cache.get('rc-1', slow)
    const staleFinish = finish
    bumpTenantVersion('rc-1')
    const fresh = cache.get('rc-1', slow)
    expect(loads).toBe(3)
    finish(row('new'))
    staleFinish(row('old'))
    expect(await stale).toEqual(row('old'))
    expect(await fresh).toEqual(row('new'))
    expect(await cache.get('rc-1', slow)).toEqual(row('new'))
  })

  it('a failed load is not cached and not shared with later callers', async () => {
    const cache = new TenantRowCache(60_000)
    let loads = 0
    await expect(cache.get('rc-2', async () => (loads++, Promise.reject(new Error('connection lost'))))).rejects.toThrow('connection lost')
    expect(await cache.get('rc-2', async () => (loads++, row('ok')))).toEqual(row('ok'))
    expect(loads).toBe(2)
  })
})

describe('prepared-statement names', () => {
  it('one stable name per SQL text, distinct texts distinct names, also past the memo’s bound', () => {
    const a = preparedStatementName({ sql: 'SELECT 1' })
    expect(a).toMatch(/^plt_[0-9a-f]{24}$/)
    expect(preparedStatementName({ sql: 'SELECT 1' })).toBe(a)
    expect(preparedStatementName({ sql: 'SELECT 2' })).not.toBe(a)
    const names = new Set(Array.from({ length: 1_200 }, (_, i) => preparedStatementName({ sql: `SELECT ${i} AS n` })))
    expect(names.size).toBe(1_200)
    expect(preparedStatementName({ sql: 'SELECT 1' })).toBe(a)
  })
})
