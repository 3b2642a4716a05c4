/**
 * The tenant step: which tenant a call is for (explicit → withTenant() → tenantResolver → none),
 * its row (cached, created on first use where the extension asks for it), whether it is active, and
 * the policy step's inputs — so admission ends here with the effective policy and the counter keys
 * the call touches, all for the call's one instant.
 */
import type { LlmConfig } from '../config/config.js'
import { parseOverride, type TenantRef } from '../config/overrides.js'
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { counterKeysFor, maintainedKeys, type CounterKey } from '../ledger/counters/keys.js'
import { loadPlanAssignments } from '../plans/load.js'
import { planAt, type AssignedPlan } from '../plans/plan-limits.js'
import { ensureTenantRow, findTenantRow, rowLimits, TenantRowCache, type TenantRow } from '../tenant/loader.js'
import { currentTenant, ResolvedTenantRef, resolveTenantRef, type ResolvedTenant } from '../tenant/ref.js'
import type { TenantInput } from '../tenant/store.js'
import { TenantInactiveError } from './errors.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { ApiKeyNotFoundError } from '../keys/errors.js'
import { apiKeyCacheId, loadApiKeyLimits } from '../keys/limits.js'
import type { ApiKeyLimits } from '../keys/key-record.js'
import { effectivePolicy, type EffectivePolicy, type SourcedOverride } from './policy.js'

/** What admission caches per tenant: its row and its plan assignments (current and scheduled). */
interface LoadedTenant {
  row: TenantRow | null
  plans: AssignedPlan[]
}

export interface BudgetsOptions {
  /** Recognises host records of the tenant model and returns their tenant id (from the extension). */
  hostIdOf?: (record: object) => string | undefined
  /** Creates missing tenant rows on first use with these values (the extension's `budget: true`). */
  autoCreate?: (tenant: ResolvedTenant) => TenantInput | null
}

/** Everything admission decided about one call. */
export interface Admitted {
  tenantId: string | null
  agentType: string
  policy: EffectivePolicy
  keys: CounterKey[]
}

export class TenantAdmission {
  private readonly rows: TenantRowCache<LoadedTenant>
  private readonly apiKeys: TenantRowCache<ApiKeyLimits | null>

  constructor(
    private readonly client: LlmPrismaClient,
    private readonly provider: SqlProvider,
    private readonly config: LlmConfig,
    private readonly options: BudgetsOptions,
  ) {
    this.rows = new TenantRowCache<LoadedTenant>(config.tenantCacheTtlMs)
    this.apiKeys = new TenantRowCache<ApiKeyLimits | null>(config.tenantCacheTtlMs)
  }

  /** Explicit tenant → withTenant() → tenantResolver → none. */
  async resolve(tenant: TenantRef | null | undefined): Promise<ResolvedTenant | null> {
    if (!this.config.multiTenancy) return null
    if (tenant instanceof ResolvedTenantRef) return tenant.value
    if (tenant !== undefined) return resolveTenantRef(tenant, this.options.hostIdOf)
    const ambient = currentTenant()
    if (ambient !== undefined) return resolveTenantRef(ambient, this.options.hostIdOf)
    if (!this.config.tenantResolver) return null
    return resolveTenantRef(await this.config.tenantResolver(), this.options.hostIdOf, 'tenantResolver()')
  }

  /** Resolves the tenant and its effective policy for an agent at `at` (no reservation). */
  async admit(
    tenant: TenantRef | null | undefined,
    agentType: string,
    opts: { skipActiveCheck?: boolean; at?: Date; apiKeyId?: string | null } = {},
  ): Promise<Admitted> {
    const at = opts.at ?? this.config.now()
    const resolved = !this.config.multiTenancy ? null : tenant instanceof ResolvedTenantRef ? tenant.value : await this.resolve(tenant)
    let loaded: LoadedTenant = { row: null, plans: [] }
    const overrides: SourcedOverride[] = []
    if (resolved) {
      if (resolved.override) overrides.push({ source: 'override', parsed: resolved.override })
      loaded = await this.rows.get(resolved.tenantId, () => this.load(resolved.tenantId))
      if (!loaded.row && this.options.autoCreate) {
        const input = this.options.autoCreate(resolved)
        if (input) loaded = { row: await ensureTenantRow(this.client, this.provider, input, this.config.now()), plans: [] }
      }
      if (loaded.row && loaded.row.active === false && !opts.skipActiveCheck) throw new TenantInactiveError(resolved.tenantId)
      if (this.config.tenantConfigResolver) {
        const extra = await this.config.tenantConfigResolver(resolved.tenantId)
        if (extra) overrides.push({ source: 'resolver', parsed: parseOverride(extra, 'tenantConfigResolver()') })
      }
    }
    const tenantId = resolved?.tenantId ?? null
    const apiKey = opts.apiKeyId ? await this.apiKey(opts.apiKeyId, tenantId) : null
    const allKeys = counterKeysFor(tenantId, agentType, at, this.config.timeZone, apiKey?.id ?? null)
    const plan = planAt(loaded.plans, at)?.plan ?? null
    const policy = effectivePolicy(this.config.budgets, tenantId, agentType, allKeys, loaded.row ? rowLimits(loaded.row) : null, plan, overrides, apiKey)
    return { tenantId, agentType, policy, keys: maintainedKeys(allKeys, policy) }
  }

  /** The limits of the call's API key (cached like tenant rows); it must be a key of the call's tenant. */
  private async apiKey(apiKeyId: string, tenantId: string | null): Promise<ApiKeyLimits> {
    const key = await this.apiKeys.get(apiKeyCacheId(apiKeyId), () => loadApiKeyLimits(this.client, apiKeyId))
    if (!key) throw new ApiKeyNotFoundError(apiKeyId)
    if (key.tenantId !== tenantId)
      throw new InvalidArgumentError('call.apiKeyId', `the id of a key of the call's tenant (${tenantId === null ? 'none' : `"${tenantId}"`})`, apiKeyId)
    return key
  }

  /** The tenant's row and its plan assignments that have not ended (a scheduled change included). */
  private async load(tenantId: string): Promise<LoadedTenant> {
    const [row, plans] = await Promise.all([findTenantRow(this.client, tenantId), loadPlanAssignments(this.client, tenantId, this.config.now())])
    return { row, plans }
  }
}
