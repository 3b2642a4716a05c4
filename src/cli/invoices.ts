/**
 * `invoices generate` and `invoices show`: billing from the exact ledger (src/billing), for the
 * monthly cron job and for looking one up.
 *
 *   invoices generate --month 2026-05 [--tenant acme …] [--finalize]   (or --month last_month)
 *   invoices show <invoiceId> | --tenant acme --month 2026-05  [--format table|json|csv|html]
 *
 * A run is idempotent (running a month again writes nothing) and streams tenants in batches; its
 * progress goes to stderr — a bar on a terminal, one plain line per batch otherwise (logs) — and
 * the summary to stdout. Months are in `--time-zone` (the app's config.timeZone). Every invoice
 * written is audited as the CLI user.
 */
import { Option, type Command } from 'commander'
import { createBilling } from '../billing/billing.js'
import { invoiceToCsv, invoiceToJson } from '../billing/export.js'
import { invoiceHtml } from '../billing/html.js'
import type { InvoiceRecord } from '../billing/record.js'
import type { InvoiceRunProgress } from '../billing/run.js'
import type { InvoiceSummary } from '../billing/write.js'
import { formatMinor } from '../foundation/currency.js'
import type { Decimal } from '../foundation/money.js'
import { action, asCliActor, dbOptions, type CliContext, configFrom, parseCount, parseId, parseMonth, type DbFlags } from './command.js'
import { withConnection } from './connect.js'
import { UsageError } from './errors.js'
import { renderFields, renderTable, writeJson, type Column, type Io } from './io.js'

interface GenerateOptions extends DbFlags {
  month?: string
  tenant?: string[]
  finalize?: boolean
  batchSize?: string
}

interface ShowOptions extends DbFlags {
  tenant?: string
  month?: string
  format?: 'table' | 'json' | 'csv' | 'html'
}

/** An amount with its currency's minor digits ("49.00"), as billing's exports write it. */
const money = (amount: Decimal, currency: string) => formatMinor(BigInt(amount.times(1e9).toFixed(0)), currency)

/** Most invoices a run lists as a table (the counts are always printed; --json lists every one). */
const MAX_LISTED = 100

/** Progress of a run on stderr: a bar redrawn in place on a terminal, a line per batch otherwise. */
function progressReporter(io: Io, enabled: boolean): { report: (p: InvoiceRunProgress) => void; end: () => void } {
  let drawn = false
  return {
    report: (p) => {
      if (!enabled) return
      const share = p.total === 0 ? 1 : p.done / p.total
      if (io.isTty) {
        const width = 30
        const filled = Math.round(share * width)
        io.stderr(`\r${p.month} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} tenants (${Math.floor(share * 100)}%)`)
        drawn = true
      } else io.stderr(`${p.month}: ${p.done}/${p.total} tenants invoiced\n`)
    },
    end: () => {
      if (drawn) io.stderr('\n')
    },
  }
}

const summaryColumns: Column<InvoiceSummary>[] = [
  { header: 'tenant', value: (s) => s.tenantId },
  { header: 'invoice', value: (s) => s.id },
  { header: 'status', value: (s) => s.status },
  { header: 'rev', value: (s) => s.revision, numeric: true },
  { header: 'currency', value: (s) => s.currency },
  { header: 'total', value: (s) => money(s.total, s.currency), numeric: true },
  { header: 'outcome', value: (s) => s.outcome },
]

function renderInvoice(invoice: InvoiceRecord): string {
  const json = invoiceToJson(invoice)
  const head = renderFields([
    ['invoice', json.id],
    ['tenant', json.tenantId],
    ['month', `${json.month} (${json.timeZone})`],
    ['status', `${json.status}${json.revision > 1 ? ` (revision ${json.revision})` : ''}`],
    ['plans', json.planVersions.map((p) => `${p.key}@${p.version}`).join(', ') || '(none)'],
    ['usage', `${json.usage.tokens} tokens · $${json.usage.cost} provider cost · ${json.usage.executions} executions`],
    ['subtotal', `${json.subtotal} ${json.currency}`],
    ['adjustments', `${json.adjustments} ${json.currency}`],
    ['total', `${json.total} ${json.currency}`],
    ['issued', json.issuedAt],
  ])
  const lines = renderTable(json.lines, [
    { header: '#', value: (l) => l.position, numeric: true },
    { header: 'kind', value: (l) => l.kind },
    { header: 'description', value: (l) => l.description },
    { header: 'quantity', value: (l) => l.quantity, numeric: true },
    { header: 'unit', value: (l) => l.unit },
    { header: 'unit_price', value: (l) => l.unitPrice, numeric: true },
    { header: 'amount', value: (l) => l.amount, numeric: true },
  ])
  return `${head}\n${lines}`
}

export function registerInvoices(program: Command, ctx: CliContext): void {
  const { io } = ctx
  const invoices = program
    .command('invoices')
    .summary('Monthly invoices from the ledger: generate, show')
    .description('Invoices (billing from the exact ledger).')

  dbOptions(
    invoices
      .command('generate')
      .summary("Write (or confirm) a month's invoices; idempotent")
      .option('--month <month>', 'the month: YYYY-MM (not in the future) or last_month')
      .option('--tenant <tenantId...>', 'only these tenants (default: every tenant with a plan in the month)')
      .option('--finalize', 'finalize the invoices once written (the month must have ended)')
      .option('--batch-size <n>', 'tenants per batch (default 500, at most 5000)'),
  ).action(
    action<GenerateOptions>(ctx, async (options) => {
      const config = configFrom(options, io)
      const period = options.month === 'last_month' ? ('last_month' as const) : { month: parseMonth(options.month, config) }
      const tenants = options.tenant?.map((t) => parseId(t, '--tenant'))
      const batchSize = parseCount(options.batchSize, '--batch-size', 500, 5000)
      const progress = progressReporter(io, !options.json)
      const result = await withConnection(options, io, ({ client }) =>
        asCliActor(() =>
          createBilling(client, config).generateInvoices({
            period,
            ...(tenants ? { tenants } : {}),
            finalize: options.finalize === true,
            batchSize,
            onProgress: progress.report,
          }),
        ),
      ).finally(progress.end)
      if (options.json) return writeJson(io, result)
      io.stdout(
        `Invoices for ${result.month} (${result.timeZone}): ${result.tenants} tenant(s) — ${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged` +
          `${result.finalized ? `, ${result.finalized} finalized` : ''}${result.differs ? `, ${result.differs} finalized but would differ now (adjust, or void and reissue)` : ''}.\n`,
      )
      if (result.skipped.length > 0) io.stdout(`Skipped (no plan in ${result.month}): ${result.skipped.join(', ')}\n`)
      if (result.invoices.length > 0 && result.invoices.length <= MAX_LISTED) io.stdout(`\n${renderTable(result.invoices, summaryColumns)}`)
      else if (result.invoices.length > MAX_LISTED) io.stdout(`(${result.invoices.length} invoices: --json lists every one; \`invoices show\` shows one)\n`)
    }),
  )

  dbOptions(
    invoices
      .command('show')
      .summary('One invoice with its lines, by id or by --tenant and --month')
      .argument('[invoiceId]', 'the invoice id (or give --tenant and --month)')
      .option('--tenant <tenantId>', 'the tenant whose current invoice of --month to show')
      .option('--month <month>', 'YYYY-MM, with --tenant')
      .addOption(new Option('--format <format>', 'output format (default table)').choices(['table', 'json', 'csv', 'html'])),
  ).action(
    action<ShowOptions>(ctx, async (options, [rawId]) => {
      if (options.json && options.format !== undefined && options.format !== 'json')
        throw new UsageError('--format', 'json (or leave it out) with --json', options.format)
      const format = options.json ? 'json' : (options.format ?? 'table')
      const config = configFrom(options, io)
      let ref: string | { tenantId: string; month: string }
      if (rawId !== undefined) {
        if (options.tenant !== undefined || options.month !== undefined)
          throw new UsageError('--tenant', 'either an invoice id or --tenant with --month, not both', options.tenant ?? options.month)
        ref = parseId(rawId, '<invoiceId>')
      } else {
        if (options.tenant === undefined) throw new UsageError('<invoiceId>', 'an invoice id, or --tenant <tenantId> with --month YYYY-MM')
        ref = { tenantId: parseId(options.tenant, '--tenant'), month: parseMonth(options.month, config) }
      }
      const invoice = await withConnection(options, io, ({ client }) => createBilling(client, config).getInvoice(ref))
      if (format === 'json') writeJson(io, invoiceToJson(invoice))
      else if (format === 'csv') io.stdout(invoiceToCsv(invoice))
      else if (format === 'html') io.stdout(invoiceHtml(invoice))
      else io.stdout(renderInvoice(invoice))
    }),
  )
}
