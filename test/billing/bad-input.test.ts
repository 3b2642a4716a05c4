/**
 * Bad input to billing: each a typed error naming the field and the allowed values, and nothing
 * written — the row counts of every invoice, line, audit, plan, assignment, tenant and ledger table
 * are compared before and after. Bad prices are refused when a plan is defined, and (for versions
 * stored before the rule, or written around the API) when a run would price them: a run that would
 * price one bad version writes nothing at all, not even the other tenants' invoices.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { createBilling, InvalidArgumentError, InvoiceNotFoundError, PlanNotFoundError } from '../../src/index.ts'
import { rowCounts, world } from './setup.ts'

describe.each(DATABASES)('bad billing input on %s', (kind) => {
  const db = useDatabase(kind)
  let w: ReturnType<typeof world>
  let invoiceId = ''

  beforeAll(async () => {
    w = world(db())
    await w.plans.definePlan({ key: 'good', name: 'Good', prices: { baseFee: '10.00', includedTokens: 100, overagePer1kTokens: '0.5' } })
    await w.plans.definePlan({ key: 'unpriced', name: 'Unpriced', limits: { dailyExecutions: 10 } })
    await w.plans.definePlan({ key: 'cents', name: 'Cents', prices: { baseFee: '9.99' } })
    await w.plans.definePlan({ key: 'euro', name: 'Euro', prices: { currency: 'EUR', baseFee: '9.00' } })
    await w.plans.definePlan({ key: 'euro-cost', name: 'Euro cost', prices: { currency: 'EUR', costMarkup: '10' } })
    await w.plans.definePlan({ key: 'legacy', name: 'Legacy', prices: { baseFee: '1.00' } })
    await w.plans.definePlan({ key: 'gone', name: 'Gone', prices: { baseFee: '1.00' } })
    await w.plans.definePlan({ key: 'negative', name: 'Negative', prices: { overagePer1kTokens: '1.00' } })
    w.at('2026-05-01T00:00:00Z')
    await w.plans.changePlan('bi-good', 'good')
    await w.plans.changePlan('bi-unpriced', 'unpriced')
    await w.plans.changePlan('bi-mixed', 'good')
    await w.plans.changePlan('bi-euro-cost', 'euro-cost')
    await w.plans.changePlan('bi-legacy', 'legacy')
    await w.plans.changePlan('bi-gone', 'gone')
    await w.plans.changePlan('bi-negative', 'negative')
    w.at('2026-05-10T00:00:00Z')
    await w.plans.changePlan('bi-mixed', 'euro')
    // Stored around the API (or before the rules): a sub-cent base fee, a negative price; a deleted version.
    await db().rawQuery(`UPDATE llm_plans SET base_fee_nanos = 1001000000 WHERE key = 'legacy'`)
    await db().rawQuery(`UPDATE llm_plans SET overage_per_1k_tokens_nanos = -1 WHERE key = 'negative'`)
    await db().rawQuery(`DELETE FROM llm_plans WHERE key = 'gone'`)
    w.at('2026-06-15T00:00:00Z')
    invoiceId = (await w.billing.generateInvoices({ period: 'last_month', tenants: ['bi-good'] })).invoices[0].id
  })

  const good = ['bi-good']
  const cases: Array<[string, RegExp, RegExp, () => Promise<unknown>]> = [
    ['no input', /^input$/, /period is required/, () => w.billing.generateInvoices(undefined as never)],
    ['an unknown option', /^input\.tenant$/, /period, tenants, finalize/, () => w.billing.generateInvoices({ period: 'last_month', tenant: 'x' } as never)],
    [
      'a period name billing does not take',
      /^period$/,
      /'last_month' or \{ month: 'YYYY-MM' \}/,
      () => w.billing.generateInvoices({ period: 'this_month' as never }),
    ],
    ['a bare month string', /^period$/, /\{ month: 'YYYY-MM' \}/, () => w.billing.generateInvoices({ period: '2026-05' as never })],
    [
      'a { from, to } range',
      /^period\.from$/,
      /one of the keys: month/,
      () => w.billing.generateInvoices({ period: { from: '2026-05-01', to: '2026-06-01' } as never }),
    ],
    ['month 13', /^period\.month$/, /'YYYY-MM'/, () => w.billing.generateInvoices({ period: { month: '2026-13' } })],
    ['a one-digit month', /^period\.month$/, /'YYYY-MM'/, () => w.billing.generateInvoices({ period: { month: '2026-5' } })],
    ['a slash', /^period\.month$/, /'YYYY-MM'/, () => w.billing.generateInvoices({ period: { month: '2026/05' } })],
    ['a month name', /^period\.month$/, /'YYYY-MM'/, () => w.billing.generateInvoices({ period: { month: 'May 2026' } })],
    ['a number', /^period\.month$/, /'YYYY-MM'/, () => w.billing.generateInvoices({ period: { month: 202605 as never } })],
    ['a year before 1970', /^period\.month$/, /1970 to 9999/, () => w.billing.generateInvoices({ period: { month: '1969-12' } })],
    [
      'a month in the future',
      /^period\.month$/,
      /not after the current one \(2026-06 in UTC\)/,
      () => w.billing.generateInvoices({ period: { month: '2026-07' } }),
    ],
    ['an empty tenant list', /^tenants$/, /non-empty array/, () => w.billing.generateInvoices({ period: 'last_month', tenants: [] })],
    [
      'a tenant list that is a string',
      /^tenants$/,
      /array of at most/,
      () => w.billing.generateInvoices({ period: 'last_month', tenants: 'bi-good' as never }),
    ],
    ['an empty tenant id', /^tenants\[1\]$/, /non-empty string/, () => w.billing.generateInvoices({ period: 'last_month', tenants: ['bi-good', ''] })],
    [
      'finalize as a string',
      /^finalize$/,
      /true or false/,
      () => w.billing.generateInvoices({ period: 'last_month', tenants: good, finalize: 'yes' as never }),
    ],
    ['a zero batch size', /^batchSize$/, /from 1 to 5000/, () => w.billing.generateInvoices({ period: 'last_month', batchSize: 0 })],
    ['a fractional batch size', /^batchSize$/, /from 1 to 5000/, () => w.billing.generateInvoices({ period: 'last_month', batchSize: 1.5 })],
    ['onProgress not a function', /^onProgress$/, /a function/, () => w.billing.generateInvoices({ period: 'last_month', onProgress: 1 as never })],
    [
      'a bad actor',
      /^audit\.actor\.type$/,
      /letters, digits/,
      () => w.billing.generateInvoices({ period: 'last_month', tenants: good }, { actor: { type: '' } }),
    ],
    // Prices, checked before anything is written (the good tenant's invoice is not written either).
    [
      'a plan version without prices',
      /^plans\.unpriced@1\.prices$/,
      /baseFee: '0'/,
      () => w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-unpriced'] }),
    ],
    [
      'a stored base fee finer than a cent',
      /^plans\.legacy@1\.prices\.baseFee$/,
      /at most 2 decimal places \(the minor unit of USD\)/,
      () => w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-legacy'] }),
    ],
    [
      'a stored negative price',
      /^plans\.negative@1\.prices\.overagePer1kTokens$/,
      /non-negative/,
      () => w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-negative'] }),
    ],
    [
      'provider cost billed in EUR',
      /^plans\.euro-cost@1\.prices\.currency$/,
      /'USD' for a plan that bills provider cost/,
      () => w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-euro-cost'] }),
    ],
    [
      'two currencies in one tenant’s month',
      /^prices\.currency$/,
      /one currency .* "bi-mixed" has (USD and EUR|EUR and USD)/,
      () => w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-mixed'] }),
    ],
    // Plans refuse bad prices when defined.
    ['a negative price', /^plan\.prices\.baseFee$/, /non-negative/, () => w.plans.definePlan({ key: 'neg', name: 'Neg', prices: { baseFee: '-1.00' } })],
    [
      'a base fee finer than a cent',
      /^plan\.prices\.baseFee$/,
      /at most 2 decimal places/,
      () => w.plans.definePlan({ key: 'fine', name: 'Fine', prices: { baseFee: '49.001' } }),
    ],
    [
      'a yen base fee with sen',
      /^plan\.prices\.baseFee$/,
      /at most 0 decimal places \(the minor unit of JPY\)/,
      () => w.plans.definePlan({ key: 'yen', name: 'Yen', prices: { currency: 'JPY', baseFee: '4900.5' } }),
    ],
    [
      'a currency change that makes the fee too fine',
      /^changes\.prices\.baseFee$/,
      /minor unit of JPY/,
      () => w.plans.updatePlan('cents', { prices: { currency: 'JPY' } }),
    ],
    // Corrections.
    [
      'an adjustment finer than a cent',
      /^adjustment\.amount$/,
      /at most 2 decimal places/,
      () => w.billing.addAdjustment(invoiceId, { amount: '1.001', description: 'x' }),
    ],
    ['a zero adjustment', /^adjustment\.amount$/, /non-zero/, () => w.billing.addAdjustment(invoiceId, { amount: 0, description: 'x' })],
    [
      'an adjustment in words',
      /^adjustment\.amount$/,
      /decimal string such as "-10\.00"/,
      () => w.billing.addAdjustment(invoiceId, { amount: 'ten', description: 'x' }),
    ],
    [
      'an adjustment without a description',
      /^adjustment\.description$/,
      /non-empty string/,
      () => w.billing.addAdjustment(invoiceId, { amount: '1.00', description: ' ' }),
    ],
    [
      'an adjustment with an unknown key',
      /^adjustment\.note$/,
      /amount, description/,
      () => w.billing.addAdjustment(invoiceId, { amount: '1.00', description: 'x', note: 1 } as never),
    ],
    ['a credit past the total', /^adjustment\.amount$/, /at least -10\.00/, () => w.billing.addAdjustment(invoiceId, { amount: '-10.01', description: 'x' })],
    ['a void option misspelt', /^options\.reissu$/, /reason, reissue, carryAdjustments/, () => w.billing.voidInvoice(invoiceId, { reissu: false } as never)],
    ['an empty void reason', /^options\.reason$/, /non-empty string/, () => w.billing.voidInvoice(invoiceId, { reason: '' })],
    ['reissue as a string', /^options\.reissue$/, /true or false/, () => w.billing.voidInvoice(invoiceId, { reissue: 'no' as never })],
    // Reads.
    ['an invoice ref with a bad month', /^invoice\.month$/, /'YYYY-MM'/, () => w.billing.getInvoice({ tenantId: 'bi-good', month: '2026-5' })],
    ['an unknown status', /^query\.status$/, /draft, finalized, void/, () => w.billing.listInvoices({ status: 'paid' as never })],
    ['a list limit of 0', /^query\.limit$/, /from 1 to 1000/, () => w.billing.listInvoices({ limit: 0 })],
    ['a list query key misspelt', /^query\.tenant$/, /period, tenantId, status/, () => w.billing.listInvoices({ tenant: 'x' } as never)],
    ['not a Prisma client', /^client$/, /Prisma client/, async () => createBilling({})],
  ]

  it.each(cases)('%s: InvalidArgumentError naming the field, nothing written', async (_name, field, allowed, call) => {
    const before = await rowCounts(db())
    const err = await call().then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toMatch(field)
    expect((err as InvalidArgumentError).allowed).toMatch(allowed)
    expect(await rowCounts(db())).toEqual(before)
  })

  it('a deleted plan version a tenant was on: PlanNotFoundError, nothing written', async () => {
    const before = await rowCounts(db())
    await expect(w.billing.generateInvoices({ period: { month: '2026-05' }, tenants: ['bi-good', 'bi-gone'] })).rejects.toMatchObject({
      constructor: PlanNotFoundError,
      key: 'gone',
      version: 1,
    })
    await expect(w.billing.getInvoice('no-such-invoice')).rejects.toThrow(InvoiceNotFoundError)
    await expect(w.billing.finalizeInvoice('no-such-invoice')).rejects.toThrow(InvoiceNotFoundError)
    expect(await rowCounts(db())).toEqual(before)
  })
})
