// biome-ignore-all lint/suspicious/noExplicitAny: the host model is known only at runtime (options.model); its delegate and records are reached dynamically
// biome-ignore-all lint/complexity/noBannedTypes: Prisma's `query` component type is the empty object type
/**
 * llmTenant(): one `$extends` call turns a model of the app's schema into an LLM tenant — typed
 * record methods (usage, budgets, keys), static helpers on the model, `$llm` on the client, and
 * (with `budget: true`) the LlmTenant row created with the host row and kept in sync on rename.
 */
import { Prisma } from '@prisma/client/extension'
import { LlmBudgets } from '../budget/budgets.js'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { LlmLedger } from '../ledger/ledger.js'
import { LlmPlans } from '../plans/plans.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { LlmAuditLog, type AuditQuery } from '../audit/log.js'
import { LlmApiKeys, type ApiKeysOptions } from '../keys/api-keys.js'
import { LlmAgentConfigs } from '../agent-configs/store.js'
import { LlmProvisioning, type ProvisioningOptions } from '../provisioning/provisioning.js'
import type { ProvisionTenantInput } from '../provisioning/input.js'
import type { PeriodInput } from '../foundation/periods.js'
import { describeHostModel, type HostModelOptions } from './host.js'
import { ensureTenantRow } from '../tenant/loader.js'
import { recordMethods, tenantRowOf, type TenantContext } from './record-methods.js'
import { TenantStore, type TenantRecord } from '../tenant/store.js'
import { withTenant } from '../tenant/ref.js'
import { LlmRuntime, type RuntimeOptions } from '../agents/runtime.js'
import type { AgentOptions } from '../agents/define.js'
import type { TenantRef } from '../config/overrides.js'

export interface LlmTenantOptions<M extends string> extends HostModelOptions<any> {
  model: M
  /** The shared config (from defineLlmConfig) or its options. */
  config?: LlmConfig | LlmConfigInput
  /** Provider endpoints for agents (base URLs, default keys). */
  providers?: RuntimeOptions['providers']
  /** Price overrides / fallback for agents. */
  pricing?: RuntimeOptions['pricing']
  /** Tenant API keys issued by the app (prefix, pepper, negative cache): `$llm.apiKeys`. */
  tenantApiKeys?: Omit<ApiKeysOptions, 'config'>
  /** Agent templates in code, by product type, for `llmProvisionTenant` (`$llm.provisioning`). */
  agentTemplates?: ProvisioningOptions['templates']
}

type Rec = Record<string, unknown>

const OPTION_KEYS = [
  'model',
  'id',
  'name',
  'limits',
  'enforcement',
  'inheritGlobal',
  'budget',
  'apiKeys',
  'config',
  'providers',
  'pricing',
  'tenantApiKeys',
  'agentTemplates',
]

export function llmTenant<M extends string>(options: LlmTenantOptions<M>) {
  return Prisma.defineExtension((base) => {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', `{ ${OPTION_KEYS.join(', ')} }`, options)
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) throw new InvalidArgumentError(key, `one of the llmTenant() options: ${OPTION_KEYS.join(', ')}`, key)
    }
    const config = toConfig(options.config)
    const client = assertClient(base)
    const provider = detectProvider(base)
    const host = describeHostModel(base, options)
    const ledger = new LlmLedger(base, config)
    const budgets = new LlmBudgets(base, config, {
      hostIdOf: (record) => host.hostIdOf(record),
      autoCreate: host.autoCreate ? (t) => host.tenantInput((t.hostRecord as Rec | undefined) ?? null, t.tenantId) : undefined,
    })
    const runtime = new LlmRuntime(base, {
      config,
      providers: options.providers,
      pricing: options.pricing,
      budgets: {
        hostIdOf: (record) => host.hostIdOf(record),
        autoCreate: host.autoCreate ? (t) => host.tenantInput((t.hostRecord as Rec | undefined) ?? null, t.tenantId) : undefined,
      },
      tenantApiKeys: async (t) => {
        let record = t.hostRecord as Rec | undefined
        if ((!record || !hasNeeds(record)) && host.idField) {
          record = ((await (base as any)[options.model].findFirst({ where: { [host.idField]: t.tenantId } })) as Rec | null) ?? undefined
        }
        return record ? host.apiKeysOf(record) : {}
      },
    })
    const plans = new LlmPlans(base, config)
    const audit = new LlmAuditLog(base, config)
    const apiKeys = new LlmApiKeys(base, { ...(options.tenantApiKeys ?? {}), config })
    const agentConfigs = new LlmAgentConfigs(base, config)
    // Provisioned tenants start from the model's defaults (limits, enforcement), like auto-created ones.
    const provisioning = new LlmProvisioning(base, config, {
      keys: apiKeys,
      templates: options.agentTemplates,
      tenantDefaults: (tenantId) => {
        const { tenantId: _id, ...defaults } = host.tenantInput(null, tenantId)
        return defaults
      },
    })
    const ctx: TenantContext = {
      client,
      provider,
      host,
      ledger,
      budgets,
      store: new TenantStore(base, { now: config.now }),
      plans,
      audit,
      apiKeys,
      agentConfigs,
      now: config.now,
    }
    const idOf = (tenant: string | Rec) => {
      if (typeof tenant === 'string') return tenant
      if (typeof tenant !== 'object' || tenant === null || Array.isArray(tenant)) {
        throw new InvalidArgumentError('tenant', `a tenant id string or a record of model "${options.model}"`, tenant)
      }
      return host.tenantIdOf(tenant)
    }
    const setActive = async (tenant: string | Rec, active: boolean, auditOptions?: AuditOptions): Promise<TenantRecord> => {
      assertAuditOptions(auditOptions)
      await tenantRowOf(ctx, typeof tenant === 'string' ? null : tenant, idOf(tenant), auditOptions)
      return ctx.store.update(idOf(tenant), { active }, auditOptions)
    }

    const statics = {
      llmFindTenant: (tenantId: string) => ctx.store.find(tenantId),
      llmFindTenantByRecord: (record: Rec) => ctx.store.find(host.tenantIdOf(record)),
      llmFindOrCreateTenant: (record: Rec) => tenantRowOf(ctx, record, host.tenantIdOf(record)),
      llmDeactivate: (tenant: string | Rec, audit?: AuditOptions) => setActive(tenant, false, audit),
      llmActivate: (tenant: string | Rec, audit?: AuditOptions) => setActive(tenant, true, audit),
      llmAuditEvents: (q: AuditQuery = {}) => audit.events(q),
      llmVerifyApiKey: (raw: string) => apiKeys.verifyApiKey(raw),
      llmRevokeApiKey: (keyId: string, auditOptions?: AuditOptions) => apiKeys.revokeApiKey(keyId, auditOptions),
      llmRotateApiKey: (keyId: string, rotation: { gracePeriod?: number | string } = {}, auditOptions?: AuditOptions) =>
        apiKeys.rotateApiKey(keyId, rotation, auditOptions),
      llmProvisionTenant: (input: ProvisionTenantInput, auditOptions?: AuditOptions) => provisioning.provisionTenant(input, auditOptions),
      llmTopSpenders: (q: { period?: PeriodInput; limit?: number } = {}) => ledger.costByTenant(q),
      llmRefreshCounters: (q: { tenantId?: string } = {}) => budgets.refreshCounters(q),
      llmReleaseExpiredHolds: () => budgets.releaseExpiredHolds(),
      llmPlans: (q: { allVersions?: boolean } = {}) => plans.listPlans(q),
      llmTenantsOnPlan: (key: string, q: { version?: number } = {}) => plans.tenantsOnPlan(key, q),
    }

    /** Creates the tenant row with the host row: same transaction unless the caller runs one already. */
    const createWithTenant = async ({ args, query, ...rest }: { args: any; query: (a: any) => Promise<any> }) => {
      const inCallerTransaction = Boolean((rest as { __internalParams?: { transaction?: unknown } }).__internalParams?.transaction)
      if (!host.autoCreate) return query(args)
      if (inCallerTransaction) {
        // Our writes cannot join the caller's transaction; the row is created race-free right after
        // (and on first use, should this fail).
        const record = (await query(args)) as Rec
        await ensureFromResult(record, args).catch(() => undefined)
        return record
      }
      return (base as any).$transaction(async (tx: any) => {
        const record = (await tx[options.model].create(args)) as Rec
        const full = hasNeeds(record) ? record : await tx[options.model].findUniqueOrThrow({ where: whereOf(record, args) })
        await ensureTenantRow(tx, provider, host.tenantInput(full, host.tenantIdOf(full)), config.now())
        return record
      })
    }
    const hasNeeds = (record: Rec) => Object.keys(host.needs).every((f) => f in record)
    const whereOf = (record: Rec, args: any) => ('id' in record ? { id: record.id } : args.where)
    const ensureFromResult = async (record: Rec, args: any) => {
      const full = hasNeeds(record) ? record : await (base as any)[options.model].findUniqueOrThrow({ where: whereOf(record, args) })
      await ensureTenantRow(client, provider, host.tenantInput(full, host.tenantIdOf(full)), config.now())
      return full as Rec
    }
    /** Keeps the tenant's name in step with the host record. */
    const syncName = async ({ args, query }: { args: any; query: (a: any) => Promise<any> }) => {
      const record = (await query(args)) as Rec | null
      if (!record || typeof options.name !== 'string' || !(options.name in (args.data ?? args.update ?? {}))) return record
      const full = hasNeeds(record) ? record : await (base as any)[options.model].findUnique({ where: whereOf(record, args) })
      if (full) await client.llmTenant.updateMany({ where: { tenantId: host.tenantIdOf(full) }, data: { name: host.nameOf(full) } })
      return record
    }

    const methods = recordMethods(ctx)
    return base.$extends({
      name: 'prisma-llm-tenant',
      client: {
        $llm: {
          config,
          ledger,
          budgets,
          plans,
          audit,
          apiKeys,
          track: budgets.track.bind(budgets),
          runtime,
          defineAgent: (agent: AgentOptions) => runtime.defineAgent(agent),
          agent: (name: string) => runtime.agent(name),
          agentConfigs,
          provisioning,
          withTenant: <T>(tenant: TenantRef | null, fn: () => T) => withTenant(tenant, fn),
        },
      },
      model: { [options.model]: statics } as { [K in M]: typeof statics },
      result: { [options.model]: methods } as unknown as { [K in M]: typeof methods },
      query: { [options.model]: { create: createWithTenant, update: syncName, upsert: syncName } } as {},
    })
  })
}
