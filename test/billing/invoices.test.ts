/**
 * Invoicing on both databases: proration by the second in the zone's month (DST months are 743 h and
 * 745 h long in Europe/Berlin), an upgrade at once and a downgrade at period end, included usage and
 * overage from the ledger's counted rows, one rounding per line; idempotent runs; drafts recomputed,
 * finalized invoices never; adjustments, void + reissue; listing; all audited.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { createAuditLog, InvalidArgumentError, InvoiceStateError, TenantNotFoundError, TenantStore, type InvoiceRecord } from '../../src/index.ts'
import { rowCounts, world } from './setup.ts'

const amounts = (inv: InvoiceRecord) => inv.lines.map((l) => `${l.kind}:${l.planKey ?? '-'}:${l.quantity.toFixed()}:${l.amount.toFixed(2)}`)

describe.each(DATABASES)('invoices on %s', (kind) => {
  const db = useDatabase(kind)

  it('prorates by the second in a 743-hour month: the worked example of docs/billing.md', async () => {
    const w = world(db(), 'Europe/Berlin')
    await w.plans.definePlan({ key: 'ex-basic', name: 'Basic', prices: { baseFee: '10.00', includedTokens: 100_000, overagePer1kTokens: '0.01' } })
    await w.plans.definePlan({ key: 'ex-pro', name: 'Pro', prices: { baseFee: '49.00', includedTokens: 1_000_000, overagePer1kTokens: '0.002' } })
    w.at('2026-02-20T10:00:00Z')
    await w.plans.changePlan('ex-acme', 'ex-basic')
    await w.record([{ tenantId: 'ex-acme', at: '2026-03-05T12:00:00Z', tokens: 50_000, cost: '0.40' }])
    w.at('2026-03-15T23:00:00Z') // 16 March, 00:00 in Berlin: an upgrade takes effect at once
    await w.plans.changePlan('ex-acme', 'ex-pro')
    await w.record([
      { tenantId: 'ex-acme', at: '2026-03-20T08:00:00Z', tokens: 600_000, cost: '3.10' },
      { tenantId: 'ex-acme', at: '2026-03-21T08:00:00Z', tokens: 900, status: 'refused' },
      { tenantId: 'ex-acme', at: '2026-03-31T22:30:00Z', tokens: 7, cost: '0.01' }, // 1 April in Berlin: next month
    ])
    w.at('2026-03-20T09:00:00Z')
    await w.plans.changePlan('ex-acme', 'ex-basic', { at: 'period_end' }) // a downgrade: from 1 April
    w.at('2026-04-02T08:00:00Z')
    const run = await w.billing.generateInvoices({ period: 'last_month', tenants: ['ex-acme'] })
    expect(run).toMatchObject({ month: '2026-03', tenants: 1, created: 1, updated: 0, unchanged: 0 })
    const inv = await w.billing.getInvoice(run.invoices[0].id)
    expect(inv.from.toISOString()).toBe('2026-02-28T23:00:00.000Z')
    expect(inv.to.toISOString()).toBe('2026-03-31T22:00:00.000Z') // 743 h: 2,674,800 s
    expect(inv.lines[0]).toMatchObject({ kind: 'base_fee', unit: 'second', divisor: 2_674_800 })
    expect(amounts(inv)).toEqual([
      'base_fee:ex-basic:1296000:4.85', // 10.00 × 1,296,000 / 2,674,800 = 4.8452… → 4.85
      'included_usage:ex-basic:48452:0.00', // 100,000 × 1,296,000 / 2,674,800 = 48,452.2 → 48,452
      'overage:ex-basic:1548:0.02', // 1,548 × 0.01 / 1,000 = 0.01548 → 0.02
      'base_fee:ex-pro:1378800:25.26', // 49.00 × 1,378,800 / 2,674,800 = 25.2584… → 25.26
      'included_usage:ex-pro:515478:0.00', // 1,000,000 × 1,378,800 / 2,674,800 = 515,477.8 → 515,478
      'overage:ex-pro:84522:0.17', // 84,522 × 0.002 / 1,000 = 0.169044 → 0.17
    ])
    expect(inv.subtotal.toFixed(2)).toBe('30.30')
    expect(inv.total.toFixed(2)).toBe('30.30')
    expect(inv.usage).toMatchObject({ tokens: 650_000, executions: 2 })
    expect(inv.usage.cost.toFixed()).toBe('3.5')
    expect(inv.planVersions.map((p) => `${p.key}@${p.version}`)).toEqual(['ex-basic@1', 'ex-pro@1'])
    // The usage queries say the same for the same month.
    const summary = await w.ledger.usageSummary({ tenantId: 'ex-acme', period: { from: inv.from, to: inv.to } })
    expect([summary.tokens, summary.cost.toFixed()]).toEqual([inv.usage.tokens, inv.usage.cost.toFixed()])
    // April: the downgrade took effect at its start — a whole month of Basic, no proration.
    w.at('2026-05-03T00:00:00Z')
    const april = await w.billing.getInvoice((await w.billing.generateInvoices({ period: 'last_month', tenants: ['ex-acme'] })).invoices[0].id)
    expect(amounts(april)).toEqual(['base_fee:ex-basic:2592000:10.00', 'included_usage:ex-basic:7:0.00'])
  })

  it('a 745-hour month (October in Berlin): the whole month is the fee, half of it is half', async () => {
    const w = world(db(), 'Europe/Berlin')
    await w.plans.definePlan({ key: 'oct-flat', name: 'Flat', prices: { baseFee: '31.00' } })
    w.at('2026-09-15T00:00:00Z')
    await w.plans.changePlan('oct-a', 'oct-flat')
    w.at('2026-10-16T10:30:00Z') // exactly half of 2,682,000 s after 1 October 00:00 CEST (2026-09-30T22:00Z)
    await w.plans.changePlan('oct-b', 'oct-flat')
    w.at('2026-11-01T12:00:00Z')
    const run = await w.billing.generateInvoices({ period: { month: '2026-10' }, tenants: ['oct-a', 'oct-b'] })
    const [a, b] = await Promise.all(['oct-a', 'oct-b'].map((t) => w.billing.getInvoice({ tenantId: t, month: '2026-10' })))
    expect(run.tenants).toBe(2)
    expect(a.lines[0]).toMatchObject({ divisor: 2_682_000 })
    expect(amounts(a)).toEqual(['base_fee:oct-flat:2682000:31.00', 'included_usage:oct-flat:0:0.00'])
    expect(amounts(b)).toEqual(['base_fee:oct-flat:1341000:15.50', 'included_usage:oct-flat:0:0.00'])
  })

  it('is idempotent: running a month again writes nothing and returns the same invoices', async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'idem', name: 'Idem', prices: { baseFee: '5.00', includedTokens: 10, overagePer1kTokens: '1' } })
    w.at('2026-06-01T00:00:00Z')
    for (const t of ['idem-1', 'idem-2', 'idem-3']) await w.plans.changePlan(t, 'idem')
    await w.record([{ tenantId: 'idem-1', at: '2026-06-10T00:00:00Z', tokens: 1234, cost: '0.1' }])
    w.at('2026-07-01T00:00:00Z')
    const first = await w.billing.generateInvoices({ period: 'last_month', tenants: ['idem-1', 'idem-2', 'idem-3'] })
    const before = await rowCounts(db())
    const lines = await Promise.all(first.invoices.map((i) => w.billing.getInvoice(i.id)))
    w.at('2026-07-02T00:00:00Z')
    const second = await w.billing.generateInvoices({ period: 'last_month', tenants: ['idem-3', 'idem-1', 'idem-2', 'idem-1'] })
    expect(second).toMatchObject({ created: 0, updated: 0, unchanged: 3 })
    expect(second.invoices.map((i) => i.id)).toEqual(first.invoices.map((i) => i.id))
    expect(await rowCounts(db())).toEqual(before)
    expect(await Promise.all(second.invoices.map((i) => w.billing.getInvoice(i.id)))).toEqual(lines)
  })

  it('a draft is recomputed when late usage arrives (same id, adjustments kept); a finalized one never is', async () => {
    const w = world(db())
    const audit = createAuditLog(db().client, w.config)
    await w.plans.definePlan({ key: 'late', name: 'Late', prices: { baseFee: '0', overagePer1kTokens: '2.00' } })
    w.at('2026-05-01T00:00:00Z')
    await w.plans.changePlan('late-d', 'late')
    await w.plans.changePlan('late-f', 'late')
    w.at('2026-06-01T00:00:00Z')
    const first = await w.billing.generateInvoices({ period: 'last_month', tenants: ['late-d', 'late-f'] })
    const [draft, final] = first.invoices
    await w.billing.addAdjustment(draft.id, { amount: '1.50', description: 'Setup' })
    await w.billing.finalizeInvoice(final.id)
    await w.record([
      { tenantId: 'late-d', at: '2026-05-31T23:59:59Z', tokens: 1000 },
      { tenantId: 'late-f', at: '2026-05-31T23:59:59Z', tokens: 1000 },
    ])
    const finalBefore = await w.billing.getInvoice(final.id)
    const second = await w.billing.generateInvoices({ period: 'last_month', tenants: ['late-d', 'late-f'] })
    expect(second.invoices.map((i) => [i.id, i.outcome])).toEqual([
      [draft.id, 'updated'],
      [final.id, 'differs'],
    ])
    const recomputed = await w.billing.getInvoice(draft.id)
    expect(amounts(recomputed)).toEqual(['base_fee:late:2678400:0.00', 'included_usage:late:0:0.00', 'overage:late:1000:2.00', 'adjustment:-:1:1.50'])
    expect([recomputed.subtotal.toFixed(2), recomputed.adjustments.toFixed(2), recomputed.total.toFixed(2)]).toEqual(['2.00', '1.50', '3.50'])
    expect(await w.billing.getInvoice(final.id)).toEqual(finalBefore)
    const events = (await audit.events({ tenantId: 'late-d' })).events.map((e) => e.action)
    expect(events).toEqual(expect.arrayContaining(['invoice.generated', 'invoice.adjusted', 'invoice.regenerated']))
  })

  it('finalizes only a month that has ended; a finalized invoice takes adjustment lines, a void one nothing', async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'fin', name: 'Fin', prices: { baseFee: '20.00' } })
    w.at('2026-08-01T00:00:00Z')
    await w.plans.changePlan('fin-a', 'fin')
    w.at('2026-08-11T00:00:00Z')
    // The current month: a draft preview (10 of 31 days so far is not prorated: the plan is in force all month).
    const preview = await w.billing.generateInvoices({ period: { month: '2026-08' }, tenants: ['fin-a'] })
    expect(preview.invoices[0]).toMatchObject({ status: 'draft', outcome: 'created' })
    await expect(w.billing.finalizeInvoice(preview.invoices[0].id)).rejects.toThrow(InvoiceStateError)
    await expect(w.billing.generateInvoices({ period: { month: '2026-08' }, tenants: ['fin-a'], finalize: true })).rejects.toMatchObject({ field: 'finalize' })
    w.at('2026-09-01T00:00:00Z')
    const done = await w.billing.finalizeInvoice(preview.invoices[0].id)
    expect(done).toMatchObject({ status: 'finalized', finalizedAt: new Date('2026-09-01T00:00:00Z') })
    expect(await w.billing.finalizeInvoice(done.id)).toEqual(done) // again: no change
    const adjusted = await w.billing.addAdjustment(done.id, { amount: '-5.25', description: 'Outage credit' })
    expect(adjusted.lines.slice(0, -1)).toEqual(done.lines) // the computed lines never change
    expect(adjusted.lines.at(-1)).toMatchObject({ kind: 'adjustment', position: 3, description: 'Outage credit' })
    expect([adjusted.adjustments.toFixed(2), adjusted.total.toFixed(2)]).toEqual(['-5.25', '14.75'])
    const before = await rowCounts(db())
    await expect(w.billing.addAdjustment(done.id, { amount: '-14.76', description: 'Too much' })).rejects.toMatchObject({
      field: 'adjustment.amount',
      allowed: expect.stringContaining('-14.75'),
    })
    expect(await rowCounts(db())).toEqual(before)
    const { voided } = await w.billing.voidInvoice(done.id, { reissue: false, reason: 'Duplicate' })
    expect(voided).toMatchObject({ status: 'void', voidReason: 'Duplicate', replacedBy: null })
    await expect(w.billing.addAdjustment(done.id, { amount: '1.00', description: 'x' })).rejects.toThrow(InvoiceStateError)
    await expect(w.billing.finalizeInvoice(done.id)).rejects.toThrow(InvoiceStateError)
    await expect(w.billing.voidInvoice(done.id)).rejects.toThrow(InvoiceStateError)
    // The next run issues the month again: revision 2, linked both ways.
    const again = await w.billing.generateInvoices({ period: 'last_month', tenants: ['fin-a'] })
    expect(again.invoices[0]).toMatchObject({ revision: 2, outcome: 'created' })
    expect((await w.billing.getInvoice(done.id)).replacedBy).toBe(again.invoices[0].id)
    expect((await w.billing.getInvoice({ tenantId: 'fin-a', month: '2026-08' })).replaces).toBe(done.id)
  })

  it('void + reissue: the month recomputed as the next revision, adjustments carried, one current invoice', async () => {
    const w = world(db())
    const audit = createAuditLog(db().client, w.config)
    await w.plans.definePlan({ key: 'vr', name: 'VR', prices: { baseFee: '9.00', includedTokens: 0, overagePer1kTokens: '1.00' } })
    w.at('2026-04-01T00:00:00Z')
    await w.plans.changePlan('vr-a', 'vr')
    await w.record([{ tenantId: 'vr-a', at: '2026-04-02T00:00:00Z', tokens: 3000 }])
    w.at('2026-05-01T00:00:00Z')
    const { invoices } = await w.billing.generateInvoices({ period: 'last_month', tenants: ['vr-a'], finalize: true })
    expect(invoices[0]).toMatchObject({ status: 'finalized', revision: 1 })
    await w.billing.addAdjustment(invoices[0].id, { amount: '-2.00', description: 'Goodwill' })
    await w.record([{ tenantId: 'vr-a', at: '2026-04-30T00:00:00Z', tokens: 1000 }]) // late usage
    const { voided, reissued } = await w.billing.voidInvoice(invoices[0].id, { reason: 'Late usage' }, { actor: { type: 'user', id: 'u_7' } })
    expect(voided).toMatchObject({ status: 'void', replacedBy: reissued?.id })
    expect(reissued).toMatchObject({ status: 'draft', revision: 2, replaces: voided.id })
    expect(amounts(reissued!)).toEqual(['base_fee:vr:2592000:9.00', 'included_usage:vr:0:0.00', 'overage:vr:4000:4.00', 'adjustment:-:1:-2.00'])
    expect(reissued!.total.toFixed(2)).toBe('11.00')
    const rows = await db().rawQuery<{ status: string; void_seq: number }>(
      `SELECT status, void_seq FROM llm_invoices WHERE tenant_id = 'vr-a' ORDER BY revision`,
    )
    expect(rows.map((r) => [r.status, Number(r.void_seq)])).toEqual([
      ['void', 1],
      ['draft', 0],
    ])
    const events = (await audit.events({ tenantId: 'vr-a' })).events
    expect(events.find((e) => e.action === 'invoice.voided')).toMatchObject({ actor: { type: 'user', id: 'u_7' } })
    // A second void + reissue: revision 3, void_seq 2.
    const third = await w.billing.voidInvoice(reissued!.id, { carryAdjustments: false })
    expect(third.reissued).toMatchObject({ revision: 3, replaces: reissued!.id })
    expect(third.reissued!.adjustments.toFixed(2)).toBe('0.00')
    expect((await w.billing.listInvoices({ tenantId: 'vr-a' })).invoices.map((i) => [i.revision, i.status])).toEqual([
      [3, 'draft'],
      [1, 'void'],
      [2, 'void'],
    ])
  })

  it('counts only settled rows of the month; usage before the first plan is listed, not billed', async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'gap', name: 'Gap', prices: { baseFee: '30.00', overagePer1kTokens: '1.00' } })
    w.at('2026-09-16T00:00:00Z')
    await w.plans.changePlan('gap-a', 'gap')
    await w.record([
      { tenantId: 'gap-a', at: '2026-09-10T00:00:00Z', tokens: 500, cost: '0.05' }, // before the plan
      { tenantId: 'gap-a', at: '2026-09-20T00:00:00Z', tokens: 2000, cost: '0.2', status: 'error' },
      { tenantId: 'gap-a', at: '2026-09-20T00:00:00Z', status: 'refused' },
      { tenantId: 'gap-a', at: '2026-09-21T00:00:00Z', status: 'running' },
      { tenantId: 'gap-a', at: '2026-10-01T00:00:00Z', tokens: 99 }, // October
      { tenantId: 'gap-b', at: '2026-09-20T00:00:00Z', tokens: 99 }, // on no plan: no invoice
    ])
    await new TenantStore(db().client, w.config).upsert({ tenantId: 'gap-b' })
    w.at('2026-10-02T00:00:00Z')
    const run = await w.billing.generateInvoices({ period: 'last_month', tenants: ['gap-a', 'gap-b'] })
    expect(run.skipped).toEqual(['gap-b'])
    const inv = await w.billing.getInvoice(run.invoices[0].id)
    expect(amounts(inv)).toEqual(['included_usage:-:500:0.00', 'base_fee:gap:1296000:15.00', 'included_usage:gap:0:0.00', 'overage:gap:2000:2.00'])
    expect(inv.lines[0].description).toMatch(/no plan/)
    expect(inv.usage).toMatchObject({ tokens: 2500, executions: 2 })
    await expect(w.billing.generateInvoices({ period: 'last_month', tenants: ['gap-a', 'nobody'] })).rejects.toThrow(TenantNotFoundError)
  })

  it('streams tenants in batches with progress, and lists invoices page by page', async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'many', name: 'Many', prices: { baseFee: '1.00' } })
    // 2025: before every other test's plans, so "every tenant with a plan in the month" is these.
    w.at('2025-02-01T00:00:00Z')
    const tenants = Array.from({ length: 7 }, (_, i) => `many-${i}`)
    for (const t of tenants) await w.plans.changePlan(t, 'many')
    w.at('2025-03-02T00:00:00Z')
    const progress: Array<[number, number, number]> = []
    const run = await w.billing.generateInvoices({ period: 'last_month', batchSize: 3, onProgress: (p) => progress.push([p.done, p.total, p.batch.length]) })
    expect(run.tenants).toBe(7)
    expect(progress).toEqual([
      [3, 7, 3],
      [6, 7, 3],
      [7, 7, 1],
    ])
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await w.billing.listInvoices({ period: { month: '2025-02' }, limit: 3, cursor })
      seen.push(...page.invoices.map((i) => i.tenantId))
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(seen).toEqual(tenants)
    expect((await w.billing.listInvoices({ period: { month: '2025-02' }, status: 'finalized' })).invoices).toEqual([])
    await expect(w.billing.listInvoices({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ field: 'query.cursor' })
  })

  it('concurrent runs of one month write one invoice per tenant; the actor is recorded', async () => {
    const w = world(db())
    const audit = createAuditLog(db().client, w.config)
    await w.plans.definePlan({ key: 'race', name: 'Race', prices: { baseFee: '3.00' } })
    w.at('2026-01-01T00:00:00Z')
    const tenants = Array.from({ length: 6 }, (_, i) => `race-${i}`)
    for (const t of tenants) await w.plans.changePlan(t, 'race')
    w.at('2026-02-01T00:00:00Z')
    const job = { actor: { type: 'job', id: 'monthly-billing' } }
    const runs = await Promise.all([1, 2, 3].map(() => w.billing.generateInvoices({ period: 'last_month', tenants, batchSize: 2 }, job)))
    expect(runs.reduce((n, r) => n + r.created, 0)).toBe(6)
    const ids = runs.map((r) => r.invoices.map((i) => i.id).sort())
    expect(ids[1]).toEqual(ids[0])
    expect(ids[2]).toEqual(ids[0])
    const [{ n }] = await db().rawQuery<{ n: unknown }>(`SELECT COUNT(*) AS n FROM llm_invoices WHERE tenant_id LIKE 'race-%'`)
    expect(Number(n)).toBe(6)
    const generated = (await audit.events({ action: 'invoice.generated', limit: 100 })).events.filter((e) => e.tenantId?.startsWith('race-'))
    expect(generated).toHaveLength(6)
    expect(generated.every((e) => e.actor.type === 'job' && e.actor.id === 'monthly-billing')).toBe(true)
  })

  it('a plan version first assigned while a run is under way is priced, not taken for "no plan"', async () => {
    const w = world(db())
    await w.plans.definePlan({ key: 'mid-a', name: 'A', prices: { baseFee: '10.00' } })
    await w.plans.definePlan({ key: 'mid-b', name: 'B', prices: { baseFee: '20.00' } })
    w.at('2027-01-01T00:00:00Z')
    await w.plans.changePlan('mid-1', 'mid-a')
    await w.plans.changePlan('mid-2', 'mid-a')
    w.at('2027-01-16T12:00:00Z') // the current month: a preview run
    const run = await w.billing.generateInvoices({
      period: { month: '2027-01' },
      tenants: ['mid-1', 'mid-2'],
      batchSize: 1,
      // After the first tenant's batch, the second moves onto a version the run's preflight never saw.
      onProgress: async (p) => {
        if (p.done === 1) await w.plans.changePlan('mid-2', 'mid-b')
      },
    })
    const second = await w.billing.getInvoice(run.invoices[1].id)
    expect(second.planVersions.map((p) => p.key)).toEqual(['mid-a', 'mid-b'])
    expect(second.lines.filter((l) => l.kind === 'base_fee').map((l) => l.planKey)).toEqual(['mid-a', 'mid-b'])
  })

  it('refuses finalize: true for the current month before writing anything', async () => {
    const w = world(db())
    w.at('2026-12-10T00:00:00Z')
    const before = await rowCounts(db())
    await expect(w.billing.generateInvoices({ period: { month: '2026-12' }, finalize: true })).rejects.toThrow(InvalidArgumentError)
    expect(await rowCounts(db())).toEqual(before)
  })
})
