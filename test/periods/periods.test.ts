import { describe, expect, it } from 'vitest'
import { daysOf, resolvePeriod, bucketStart, PERIOD_NAMES } from '../../src/foundation/periods.ts'
import { defineLlmConfig, InvalidArgumentError } from '../../src/index.ts'

const iso = (d: Date) => d.toISOString()
const opts = (now: string, timeZone = 'UTC', weekStartsOn: 0 | 1 = 1) => ({ timeZone, weekStartsOn, now: () => new Date(now) })

describe('named periods', () => {
  it('UTC, Monday week start (Wednesday 2026-11-18)', () => {
    const o = opts('2026-11-18T15:00:00Z')
    const r = (p: string) => {
      const x = resolvePeriod(p, o)
      return [iso(x.from), iso(x.to)]
    }
    expect(r('today')).toEqual(['2026-11-18T00:00:00.000Z', '2026-11-19T00:00:00.000Z'])
    expect(r('yesterday')).toEqual(['2026-11-17T00:00:00.000Z', '2026-11-18T00:00:00.000Z'])
    expect(r('this_week')).toEqual(['2026-11-16T00:00:00.000Z', '2026-11-23T00:00:00.000Z'])
    expect(r('last_week')).toEqual(['2026-11-09T00:00:00.000Z', '2026-11-16T00:00:00.000Z'])
    expect(r('this_month')).toEqual(['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'])
    expect(r('last_month')).toEqual(['2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'])
  })

  it('weeks can start on Sunday', () => {
    const x = resolvePeriod('this_week', opts('2026-11-18T15:00:00Z', 'UTC', 0))
    expect(iso(x.from)).toBe('2026-11-15T00:00:00.000Z')
  })

  it('a zone ahead of UTC moves "today" (Tokyo, 23:30 UTC is the next day)', () => {
    const x = resolvePeriod('today', opts('2026-11-18T23:30:00Z', 'Asia/Tokyo'))
    expect(iso(x.from)).toBe('2026-11-18T15:00:00.000Z')
    expect(iso(x.to)).toBe('2026-11-19T15:00:00.000Z')
  })

  it('DST end: 2026-11-01 in New York is a 25-hour day', () => {
    const x = resolvePeriod('today', opts('2026-11-01T18:00:00Z', 'America/New_York'))
    expect(iso(x.from)).toBe('2026-11-01T04:00:00.000Z')
    expect(iso(x.to)).toBe('2026-11-02T05:00:00.000Z')
    const days = daysOf(resolvePeriod('this_week', opts('2026-11-01T18:00:00Z', 'America/New_York')))
    expect(days.map((d) => d.key)).toEqual(['2026-10-26', '2026-10-27', '2026-10-28', '2026-10-29', '2026-10-30', '2026-10-31', '2026-11-01'])
    expect(days[6].end.getTime() - days[6].start.getTime()).toBe(25 * 3600_000)
  })

  it('DST start: 2026-03-29 in Berlin is a 23-hour day; this_month spans the change', () => {
    const x = resolvePeriod('today', opts('2026-03-29T12:00:00Z', 'Europe/Berlin'))
    expect(x.to.getTime() - x.from.getTime()).toBe(23 * 3600_000)
    const m = resolvePeriod('this_month', opts('2026-03-29T12:00:00Z', 'Europe/Berlin'))
    expect(iso(m.from)).toBe('2026-02-28T23:00:00.000Z')
    expect(iso(m.to)).toBe('2026-03-31T22:00:00.000Z')
  })

  it('month boundaries: last_month from January is December of the previous year', () => {
    const x = resolvePeriod('last_month', opts('2027-01-10T00:00:00Z'))
    expect(iso(x.from)).toBe('2026-12-01T00:00:00.000Z')
  })

  it('counter buckets use the same zone', () => {
    expect(iso(bucketStart('day', new Date('2026-11-18T23:30:00Z'), 'Asia/Tokyo'))).toBe('2026-11-18T15:00:00.000Z')
    expect(iso(bucketStart('month', new Date('2026-11-30T23:30:00Z'), 'Asia/Tokyo'))).toBe('2026-11-30T15:00:00.000Z')
  })
})

describe('bad period and config input', () => {
  const o = opts('2026-11-18T15:00:00Z')
  it.each([
    ['weekly', 'period'],
    ['TODAY', 'period'],
    [null, 'period'],
    [42, 'period'],
    [['today'], 'period'],
    [{ from: '2026-11-18', to: '2026-11-17' }, 'period.from'],
    [{ from: 'not a date', to: '2026-11-17' }, 'period.from'],
    [{ from: '2026-11-10' }, 'period.to'],
    [{ from: new Date(Number.NaN), to: new Date() }, 'period.from'],
  ])('%j → InvalidArgumentError on %s', (input, field) => {
    let err: unknown
    try {
      resolvePeriod(input, o)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe(field)
    if (field === 'period') for (const name of PERIOD_NAMES) expect((err as Error).message).toContain(name)
  })

  it.each([
    [{ timeZone: 'Mars/Olympus_Mons' }, 'config.timeZone'],
    [{ timeZone: '' }, 'config.timeZone'],
    [{ weekStartsOn: 7 }, 'config.weekStartsOn'],
    [{ weekStartsOn: 1.5 }, 'config.weekStartsOn'],
    [{ now: 'yesterday' }, 'config.now'],
    [{ timezone: 'UTC' }, 'config.timezone'],
  ])('defineLlmConfig(%j) → error on %s', (input, field) => {
    expect(() => defineLlmConfig(input as never)).toThrow(InvalidArgumentError)
    try {
      defineLlmConfig(input as never)
    } catch (e) {
      expect((e as InvalidArgumentError).field).toBe(field)
      expect((e as Error).message).toMatch(/Allowed: /)
    }
  })

  it('accepts any IANA zone and freezes the config', () => {
    const c = defineLlmConfig({ timeZone: 'Asia/Kathmandu', weekStartsOn: 0 })
    expect(Object.isFrozen(c)).toBe(true)
    expect(c.timeZone).toBe('Asia/Kathmandu')
  })
})
