/**
 * `tenants list|show|deactivate|activate`: the `llm_tenants` rows through the library's store
 * (src/tenant), changes audited as the CLI user (`tenant.deactivated` / `tenant.activated`).
 * (De)activating a tenant already in that state writes nothing and says so. A deactivated tenant's
 * calls are refused with TenantInactiveError in every process within `tenantCacheTtlMs`.
 */
import { Option, type Command } from 'commander'
import { createLedger } from '../ledger/ledger.js'
import { createPlans } from '../plans/plans.js'
import { TenantNotFoundError } from '../tenant/errors.js'
import { TenantStore, type TenantRecord } from '../tenant/store.js'
import { action, asCliActor, dbOptions, type CliContext, configFrom, FORMAT_CHOICES, formatFrom, parseCount, parseId, type DbFlags } from './command.js'
import { withConnection } from './connect.js'
import { renderFields, writeJson, writeRows, type Column } from './io.js'

const STATUS_CHOICES = ['active', 'inactive', 'all'] as const

interface ListOptions extends DbFlags {
  status?: (typeof STATUS_CHOICES)[number]
  limit?: string
  after?: string
  format?: (typeof FORMAT_CHOICES)[number]
}

interface TenantRow {
  tenantId: string
  name: string | null
  active: boolean
  enforcement: string | null
  plan: string | null
  createdAt: Date
}

const limitText = (limits: TenantRecord['limits']) =>
  Object.entries(limits)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? (v as { toFixed(): string }).toFixed() : v}`)
    .join(', ') || '(none set)'

async function setActive(ctx: CliContext, options: DbFlags, rawId: string, active: boolean): Promise<undefined> {
  const tenantId = parseId(rawId, '<tenantId>')
  const { io } = ctx
  await withConnection(options, io, async ({ client }) => {
    const store = new TenantStore(client)
    const before = await store.find(tenantId)
    if (!before) throw new TenantNotFoundError(tenantId)
    const changed = before.active !== active
    const record = changed ? await asCliActor(() => store.update(tenantId, { active })) : before
    if (options.json) return writeJson(io, { tenant: record, changed })
    io.stdout(
      changed
        ? `${active ? 'Activated' : 'Deactivated'} tenant ${tenantId}${active ? '' : ': its calls are refused (TenantInactiveError)'}.\n`
        : `Tenant ${tenantId} is already ${active ? 'active' : 'inactive'}; nothing changed.\n`,
    )
  })
  return undefined
}

export function registerTenants(program: Command, ctx: CliContext): void {
  const { io } = ctx
  const tenants = program.command('tenants').summary('Tenants: list, show, deactivate, activate').description('The tenants of the llm_tenants table.')

  dbOptions(
    tenants
      .command('list')
      .summary('Tenants by id, a page at a time')
      .addOption(new Option('--status <status>', 'which tenants (default all)').choices(STATUS_CHOICES))
      .option('--limit <n>', 'page size (default 50, at most 1000)')
      .option('--after <tenantId>', 'the page after this tenant id (the last one of the previous page)')
      .addOption(new Option('--format <format>', 'output format (default table)').choices(FORMAT_CHOICES)),
  ).action(
    action<ListOptions>(ctx, async (options) => {
      const format = formatFrom(options)
      const limit = parseCount(options.limit, '--limit', 50, 1000)
      const after = options.after === undefined ? undefined : parseId(options.after, '--after')
      await withConnection(options, io, async ({ client }) => {
        const where = {
          ...(options.status === 'active' ? { active: true } : options.status === 'inactive' ? { active: false } : {}),
          ...(after !== undefined ? { tenantId: { gt: after } } : {}),
        }
        const page = (await client.llmTenant.findMany({ where, orderBy: { tenantId: 'asc' }, take: limit + 1 })) as Array<Record<string, unknown>>
        const more = page.length > limit
        const shown = page.slice(0, limit)
        const now = new Date()
        const plans = (await client.llmTenantPlan.findMany({
          where: { tenantId: { in: shown.map((t) => t.tenantId) }, effectiveFrom: { lte: now }, OR: [{ effectiveTo: null }, { effectiveTo: { gt: now } }] },
          orderBy: { effectiveFrom: 'asc' },
        })) as Array<{ tenantId: string; planKey: string; planVersion: number }>
        const planOf = new Map(plans.map((p) => [p.tenantId, `${p.planKey}@${p.planVersion}`]))
        const rows: TenantRow[] = shown.map((t) => ({
          tenantId: t.tenantId as string,
          name: (t.name as string | null) ?? null,
          active: t.active as boolean,
          enforcement: (t.enforcement as string | null) ?? null,
          plan: planOf.get(t.tenantId as string) ?? null,
          createdAt: t.createdAt as Date,
        }))
        const columns: Column<TenantRow>[] = [
          { header: 'tenant', value: (r) => r.tenantId },
          { header: 'name', value: (r) => r.name },
          { header: 'active', value: (r) => (r.active ? 'yes' : 'no') },
          { header: 'plan', value: (r) => r.plan },
          { header: 'enforcement', value: (r) => r.enforcement ?? 'inherit' },
          { header: 'created', value: (r) => r.createdAt },
        ]
        const next = more ? rows.at(-1)?.tenantId : null
        writeRows(io, format, rows, columns, { tenants: rows, next })
        if (format === 'table' && next) io.stderr(`(more: --after ${next})\n`)
      })
    }),
  )

  dbOptions(tenants.command('show').summary("One tenant: limits, plan, this month's usage, keys").argument('<tenantId>', 'the tenant id')).action(
    action<DbFlags>(ctx, async (options, [rawId]) => {
      const tenantId = parseId(rawId, '<tenantId>')
      const config = configFrom(options, io)
      await withConnection(options, io, async ({ client }) => {
        const tenant = await new TenantStore(client).find(tenantId)
        if (!tenant) throw new TenantNotFoundError(tenantId)
        const current = await createPlans(client, config).currentPlan(tenantId)
        const usage = await createLedger(client, config).usageSummary({ tenantId, period: 'this_month' })
        const keys = (await client.llmApiKey.count({
          where: { tenantId, replacedBy: null, OR: [{ revokedAt: null }, { revokedAt: { gt: new Date() } }] },
        })) as number
        const plan = current ? { key: current.plan.key, version: current.plan.version, name: current.plan.name, since: current.assignment.effectiveFrom } : null
        if (options.json)
          return writeJson(io, {
            tenant,
            plan,
            thisMonth: { from: usage.period.from, to: usage.period.to, cost: usage.cost, tokens: usage.tokens, executions: usage.executions },
            activeKeys: keys,
          })
        io.stdout(
          renderFields([
            ['tenant', tenant.tenantId],
            ['name', tenant.name],
            ['active', tenant.active ? 'yes' : 'no'],
            ['enforcement', tenant.enforcement ?? 'inherit'],
            ['limits', limitText(tenant.limits)],
            ['max concurrent', tenant.maxConcurrent ?? 'inherit'],
            ['plan', plan ? `${plan.key}@${plan.version} (${plan.name}) since ${plan.since.toISOString()}` : 'none'],
            [`usage this month (${config.timeZone})`, `$${usage.cost.toFixed()} · ${usage.tokens} tokens · ${usage.executions} executions`],
            ['active keys', keys],
            ['created', tenant.createdAt],
          ]),
        )
      })
    }),
  )

  for (const active of [false, true]) {
    dbOptions(
      tenants
        .command(active ? 'activate' : 'deactivate')
        .summary(active ? 'Let a deactivated tenant make calls again' : "Refuse a tenant's calls (TenantInactiveError) until activated")
        .argument('<tenantId>', 'the tenant id'),
    ).action(action<DbFlags>(ctx, (options, [rawId]) => setActive(ctx, options, rawId, active)))
  }
}
