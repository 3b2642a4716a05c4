/**
 * Invoices agree exactly with the ledger, on random data (fast-check), on both databases: random
 * plans (base fees, allowances, nano-precise overage prices, markups), random plan histories within
 * DST and ordinary months of Europe/Berlin (changes now and at period end, a start before or inside
 * the month), and random ledger rows of every status — some exactly on a change's instant, some
 * just outside the month. For every tenant:
 *
 * - the invoice's usage is what `usageSummary` reports for the same month (tokens and cost);
 * - its subtotal equals an independent recomputation from the rows here, in decimal arithmetic
 *   (not the library's bigint code), by the documented rules;
 * - the sum of its lines is its subtotal and total; every line's amount is its own quantity × unit
 *   price ÷ divisor rounded half-up once to the cent; its token lines add up to the usage.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { Decimal, type InvoiceRecord } from '../../src/index.ts'
import { world, type Row } from './setup.ts'

const MONTHS = {
  '2026-03': ['2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z'],
  '2026-10': ['2026-09-30T22:00:00Z', '2026-10-31T23:00:00Z'],
  '2026-11': ['2026-10-31T23:00:00Z', '2026-11-30T23:00:00Z'],
} as const
type Month = keyof typeof MONTHS

const nanosText = (n: bigint) => `${n / 1_000_000_000n}.${(n % 1_000_000_000n).toString().padStart(9, '0')}`
const percentText = (x: number) => `${Math.floor(x / 10_000)}.${String(x % 10_000).padStart(4, '0')}`

const priceArb = fc
  .record({
    baseFee: fc.option(
      fc.integer({ min: 0, max: 100_000 }).map((c) => (c / 100).toFixed(2)),
      { nil: null },
    ),
    includedTokens: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: null }),
    overagePer1kTokens: fc.option(fc.bigInt({ min: 0n, max: 5_000_000_000n }).map(nanosText), { nil: null }),
    includedCost: fc.option(fc.bigInt({ min: 0n, max: 3_000_000_000n }).map(nanosText), { nil: null }),
    costMarkup: fc.option(fc.integer({ min: 0, max: 5_000_000 }).map(percentText), { nil: null }),
  })
  .map((p) => (Object.values(p).every((v) => v === null) ? { ...p, baseFee: '0.00' } : p))

const STATUSES = ['success', 'success', 'error', 'timeout', 'cancelled', 'refused', 'running'] as const
const tenantArb = (seconds: number) =>
  fc.record({
    startOffset: fc.integer({ min: -5 * 86_400_000, max: 20 * 86_400_000 }),
    startPlan: fc.nat(2),
    changes: fc.array(fc.record({ offset: fc.integer({ min: 0, max: seconds * 1000 - 1 }), plan: fc.nat(2), mode: fc.constantFrom('now', 'period_end') }), {
      maxLength: 3,
    }),
    rows: fc.array(
      fc.record({
        offset: fc.integer({ min: -2 * 86_400_000, max: (seconds + 2 * 86_400) * 1000 }),
        tokens: fc.integer({ min: 0, max: 200_000 }),
        cost: fc.bigInt({ min: 0n, max: 2_000_000_000n }).map(nanosText),
        status: fc.constantFrom(...STATUSES),
      }),
      { maxLength: 20 },
    ),
  })

type Prices = typeof priceArb extends fc.Arbitrary<infer T> ? T : never
const cents = (d: Decimal) => d.toDecimalPlaces(2, Decimal.ROUND_HALF_UP)

/** The documented rules, in decimal arithmetic over the rows: the subtotal of one tenant's month. */
function expectedSubtotal(segments: Array<{ from: number; to: number; prices: Prices | null }>, rows: Row[], monthSeconds: number): Decimal {
  let total = new Decimal(0)
  for (const seg of segments) {
    if (!seg.prices) continue
    const p = seg.prices
    const share = new Decimal(Math.floor(seg.to / 1000) - Math.floor(seg.from / 1000)).dividedBy(monthSeconds)
    const counted = rows.filter((r) => {
      const t = new Date(r.at).getTime()
      return t >= seg.from && t < seg.to && r.status !== 'refused' && r.status !== 'running'
    })
    const tokens = counted.reduce((s, r) => s + (r.tokens ?? 0), 0)
    const cost = counted.reduce((s, r) => s.plus(r.cost ?? '0'), new Decimal(0))
    if (p.baseFee !== null) total = total.plus(cents(new Decimal(p.baseFee).times(share)))
    if (p.includedTokens !== null || p.overagePer1kTokens !== null) {
      const allowance = new Decimal(p.includedTokens ?? 0).times(share).toDecimalPlaces(0, Decimal.ROUND_HALF_UP)
      const over = Decimal.max(0, new Decimal(tokens).minus(allowance))
      total = total.plus(cents(over.times(p.overagePer1kTokens ?? 0).dividedBy(1000)))
    }
    if (p.includedCost !== null || p.costMarkup !== null) {
      const allowance = new Decimal(p.includedCost ?? 0).times(share).toDecimalPlaces(9, Decimal.ROUND_HALF_UP)
      const over = Decimal.max(0, cost.minus(allowance))
      total = total.plus(cents(over.times(new Decimal(1).plus(new Decimal(p.costMarkup ?? 0).dividedBy(100)))))
    }
  }
  return total
}

function checkLines(inv: InvoiceRecord) {
  const sum = inv.lines.reduce((s, l) => s.plus(l.amount), new Decimal(0))
  expect(sum.toFixed(2)).toBe(inv.subtotal.toFixed(2))
  expect(inv.total.toFixed(2)).toBe(inv.subtotal.toFixed(2))
  for (const l of inv.lines) expect(l.amount.toFixed(9), l.description).toBe(cents(l.quantity.times(l.unitPrice).dividedBy(l.divisor)).toFixed(9))
  const tokenLines = inv.lines.filter((l) => l.unit === 'token').reduce((s, l) => s + l.quantity.toNumber(), 0)
  expect(tokenLines).toBe(inv.usage.tokens)
}

describe.each(DATABASES)('invoices agree with the ledger on random data on %s', (kind) => {
  const db = useDatabase(kind)
  let run = 0

  it('sum of lines == recomputation from rows == usage queries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Month>('2026-03', '2026-10', '2026-11'),
        fc.array(priceArb, { minLength: 3, maxLength: 3 }),
        fc.array(tenantArb(31 * 86_400 - 3600), { minLength: 1, maxLength: 3 }),
        async (month, prices, tenants) => {
          run++
          const w = world(db(), 'Europe/Berlin')
          const [fromIso, toIso] = MONTHS[month]
          const from = new Date(fromIso).getTime()
          const to = new Date(toIso).getTime()
          const monthSeconds = (to - from) / 1000
          const keys = prices.map((_, i) => `r${run}-p${i}`)
          for (const [i, p] of prices.entries()) await w.plans.definePlan({ key: keys[i], name: `Plan ${i}`, prices: p })
          const ids: string[] = []
          const expected = new Map<string, Decimal>()
          for (const [ti, t] of tenants.entries()) {
            const id = `r${run}-t${ti}`
            ids.push(id)
            const start = from + t.startOffset
            w.at(new Date(start))
            await w.plans.changePlan(id, keys[t.startPlan])
            // The timeline inside the month, as the documented rules say: 'now' cuts it, 'period_end' starts next month.
            const segments: Array<{ from: number; to: number; prices: Prices | null }> = []
            let current = { from: Math.max(start, from), plan: t.startPlan }
            if (start > from) segments.push({ from, to: start, prices: null })
            const changes = t.changes
              .map((c) => ({ ...c, at: from + c.offset }))
              .filter((c) => c.at > start && c.at < to)
              .sort((a, b) => a.at - b.at)
            for (const c of changes) {
              w.at(new Date(c.at))
              await w.plans.changePlan(id, keys[c.plan], { at: c.mode })
              if (c.mode === 'now' && c.at > current.from) {
                segments.push({ from: current.from, to: c.at, prices: prices[current.plan] })
                current = { from: c.at, plan: c.plan }
              } else if (c.mode === 'now') current = { from: c.at, plan: c.plan }
            }
            segments.push({ from: current.from, to, prices: prices[current.plan] })
            const rows: Row[] = [
              ...t.rows.map((r) => ({ tenantId: id, at: new Date(from + r.offset), tokens: r.tokens, cost: r.cost, status: r.status })),
              // Exactly on each change's instant: counted on the new version.
              ...changes.map((c) => ({ tenantId: id, at: new Date(c.at), tokens: 1001, cost: '0.000000003' })),
            ]
            await w.record(rows)
            const effective = rows.map((r) => (r.status === 'refused' || r.status === 'running' ? { ...r, tokens: 0, cost: '0' } : r))
            expected.set(id, expectedSubtotal(segments, effective, monthSeconds))
          }
          w.at(new Date(to + 86_400_000))
          const result = await w.billing.generateInvoices({ period: { month }, tenants: ids })
          expect(result.tenants).toBe(ids.length)
          for (const id of ids) {
            const inv = await w.billing.getInvoice({ tenantId: id, month })
            const usage = await w.ledger.usageSummary({ tenantId: id, period: { from: new Date(from), to: new Date(to) } })
            expect([inv.usage.tokens, inv.usage.cost.toFixed()]).toEqual([usage.tokens, usage.cost.toFixed()])
            expect(inv.subtotal.toFixed(9), id).toBe(expected.get(id)!.toFixed(9))
            checkLines(inv)
          }
          // And running it again changes nothing.
          expect((await w.billing.generateInvoices({ period: { month }, tenants: ids })).unchanged).toBe(ids.length)
        },
      ),
      { numRuns: 25 },
    )
  }, 240_000)
})
