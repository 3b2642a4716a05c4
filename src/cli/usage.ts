/**
 * `usage` and `top`: the ledger's period queries (src/ledger), for people and scripts.
 *
 *   usage [--tenant acme] [--period last_month|2026-05|…] [--by agent|model|day|key] [--format table|csv|json]
 *   top [--period …] [--limit 10]
 *
 * Figures are the ledger's own queries (usageSummary, usageByAgent / Model / Day / ApiKey,
 * costByTenant), so they agree with the app's and with invoices to the nano-dollar; periods are in
 * `--time-zone` (the app's config.timeZone).
 */
import { Option, type Command } from 'commander'
import type { LlmConfig } from '../config/config.js'
import { Decimal } from '../foundation/money.js'
import { resolvePeriod, type PeriodInput } from '../foundation/periods.js'
import { createLedger } from '../ledger/ledger.js'
import type { UsageFigures } from '../ledger/types.js'
import {
  action,
  dbOptions,
  type CliContext,
  BY_CHOICES,
  configFrom,
  FORMAT_CHOICES,
  formatFrom,
  parseCount,
  parseId,
  parsePeriod,
  type DbFlags,
} from './command.js'
import { withConnection } from './connect.js'
import { writeRows, type Column } from './io.js'

interface UsageOptions extends DbFlags {
  tenant?: string
  period?: string
  by?: (typeof BY_CHOICES)[number]
  format?: (typeof FORMAT_CHOICES)[number]
  includeRefused?: boolean
}

interface TopOptions extends DbFlags {
  period?: string
  limit?: string
  format?: (typeof FORMAT_CHOICES)[number]
  includeRefused?: boolean
}

interface UsageRow {
  group: string
  name?: string | null
  cost: Decimal
  tokens: number
  count: number
}

const GROUP_HEADERS = { agent: 'agent', model: 'model', day: 'day', key: 'key' } as const

function periodJson(input: PeriodInput, config: LlmConfig) {
  const p = resolvePeriod(input, config)
  return { name: p.name, from: p.from, to: p.to, timeZone: p.timeZone }
}

function formatOption(command: Command): Command {
  return command.addOption(new Option('--format <format>', 'output format (default table; --json = json)').choices(FORMAT_CHOICES))
}

function total(rows: readonly UsageRow[]): { cost: Decimal; tokens: number; count: number } {
  return rows.reduce((t, r) => ({ cost: t.cost.plus(r.cost), tokens: t.tokens + r.tokens, count: t.count + r.count }), {
    cost: new Decimal(0),
    tokens: 0,
    count: 0,
  })
}

export function registerUsage(program: Command, ctx: CliContext): void {
  const usage = program
    .command('usage')
    .summary('Cost, tokens and executions for a period, in total or by agent, model, day or API key')
    .description('Usage from the ledger for one tenant (--tenant) or all, over a period in --time-zone; grouped with --by.')
    .option('--tenant <tenantId>', 'one tenant (default: every execution)')
    .option('--period <period>', 'today, yesterday, this_week, last_week, this_month (default), last_month, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD')
    .addOption(new Option('--by <group>', 'group by agent, model, day or API key').choices(BY_CHOICES))
    .option('--include-refused', 'count refused calls too (they consume nothing)')
  dbOptions(formatOption(usage)).action(
    action<UsageOptions>(ctx, async (options) => {
      const format = formatFrom(options)
      const config = configFrom(options, ctx.io)
      const tenantId = options.tenant === undefined ? undefined : parseId(options.tenant, '--tenant')
      const period = parsePeriod(options.period, config)
      const query = { tenantId, period, ...(options.includeRefused ? { includeRefused: true } : {}) }
      const shownPeriod = periodJson(period, config)
      await withConnection(options, ctx.io, async ({ client }) => {
        const ledger = createLedger(client, config)
        if (options.by === undefined) {
          const s = await ledger.usageSummary(query)
          const row = { tenantId: tenantId ?? null, from: s.period.from, to: s.period.to, cost: s.cost, tokens: s.tokens, executions: s.executions }
          const columns: Column<typeof row>[] = [
            { header: 'tenant', value: (r) => r.tenantId ?? '(all)' },
            { header: 'from', value: (r) => r.from },
            { header: 'to', value: (r) => r.to },
            { header: 'cost_usd', value: (r) => r.cost, numeric: true },
            { header: 'tokens', value: (r) => r.tokens, numeric: true },
            { header: 'executions', value: (r) => r.executions, numeric: true },
          ]
          writeRows(ctx.io, format, [row], columns, {
            tenantId: tenantId ?? null,
            period: shownPeriod,
            cost: s.cost,
            tokens: s.tokens,
            executions: s.executions,
          })
          return
        }
        const by = options.by
        const figures: Record<string, UsageFigures> =
          by === 'agent'
            ? await ledger.usageByAgent(query)
            : by === 'model'
              ? await ledger.usageByModel(query)
              : by === 'day'
                ? await ledger.usageByDay(query)
                : await ledger.usageByApiKey(query)
        const rows: UsageRow[] = Object.entries(figures).map(([group, f]) => ({ group, cost: f.cost, tokens: f.tokens, count: f.count }))
        // Calls without a key last, on both databases (PostgreSQL sorts NULL last, SQLite first).
        if (by === 'key') rows.sort((a, b) => Number(a.group === 'none') - Number(b.group === 'none'))
        if (by === 'key') {
          const ids = rows.map((r) => r.group).filter((g) => g !== 'none')
          const keys = (await client.llmApiKey.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } })) as Array<{
            id: string
            name: string
          }>
          const names = new Map(keys.map((k) => [k.id, k.name]))
          for (const r of rows) r.name = r.group === 'none' ? '(no key)' : (names.get(r.group) ?? null)
        }
        const columns: Column<UsageRow>[] = [
          { header: GROUP_HEADERS[by], value: (r) => r.group },
          ...(by === 'key' ? [{ header: 'name', value: (r: UsageRow) => r.name }] : []),
          { header: 'cost_usd', value: (r) => r.cost, numeric: true },
          { header: 'tokens', value: (r) => r.tokens, numeric: true },
          { header: 'executions', value: (r) => r.count, numeric: true },
        ]
        const sum = total(rows)
        const shown = format === 'table' && rows.length > 1 ? [...rows, { group: 'total', name: null, ...sum }] : rows
        writeRows(ctx.io, format, shown, columns, {
          tenantId: tenantId ?? null,
          period: shownPeriod,
          by,
          rows: rows.map((r) => ({
            [GROUP_HEADERS[by]]: r.group,
            ...(by === 'key' ? { name: r.name ?? null } : {}),
            cost: r.cost,
            tokens: r.tokens,
            executions: r.count,
          })),
          total: { cost: sum.cost, tokens: sum.tokens, executions: sum.count },
        })
      })
    }),
  )

  const top = program
    .command('top')
    .summary('The tenants that spent the most in a period')
    .description('Spend per tenant for a period (calls without a tenant excluded), highest first.')
    .option('--period <period>', 'as for usage (default this_month)')
    .option('--limit <n>', 'how many tenants (default 10, at most 10000)')
    .option('--include-refused', 'count refused calls too')
  dbOptions(formatOption(top)).action(
    action<TopOptions>(ctx, async (options) => {
      const format = formatFrom(options)
      const config = configFrom(options, ctx.io)
      const period = parsePeriod(options.period, config)
      const limit = parseCount(options.limit, '--limit', 10, 10_000)
      await withConnection(options, ctx.io, async ({ client }) => {
        const spend = await createLedger(client, config).costByTenant({ period, limit, ...(options.includeRefused ? { includeRefused: true } : {}) })
        const tenants = (await client.llmTenant.findMany({
          where: { tenantId: { in: spend.map((s) => s.tenantId) } },
          select: { tenantId: true, name: true },
        })) as Array<{ tenantId: string; name: string | null }>
        const names = new Map(tenants.map((t) => [t.tenantId, t.name]))
        const rows = spend.map((s, i) => ({ rank: i + 1, ...s, name: names.get(s.tenantId) ?? null }))
        const columns: Column<(typeof rows)[number]>[] = [
          { header: 'rank', value: (r) => r.rank, numeric: true },
          { header: 'tenant', value: (r) => r.tenantId },
          { header: 'name', value: (r) => r.name },
          { header: 'cost_usd', value: (r) => r.cost, numeric: true },
          { header: 'tokens', value: (r) => r.tokens, numeric: true },
          { header: 'executions', value: (r) => r.executions, numeric: true },
        ]
        writeRows(ctx.io, format, rows, columns, { period: periodJson(period, config), tenants: rows })
      })
    }),
  )
}
