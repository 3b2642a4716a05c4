/**
 * The tenant step: which tenant a call is for (explicit → withTenant() → tenantResolver → none),
 * its row (cached, created on first use where the extension asks for it), whether it is active, and
 * the policy step's inputs — so admission ends here with the effective policy and the counter keys
 * the call touches, all for the call's one instant.
 */
import type { LlmConfig } from '../config/config.js'
import { parseOverride, type ParsedOverride, type TenantRef } from '../config/overrides.js'
import type { LlmPrismaClient, SqlProvider } from '../db/client.js'
import { counterKeysFor, maintainedKeys, type CounterKey } from '../ledger/counters/keys.js'
import { ensureTenantRow, findTenantRow, rowLimits, TenantRowCache, type TenantRow } from '../tenant/loader.js'
import { currentTenant, ResolvedTenantRef, resolveTenantRef, type ResolvedTenant } from '../tenant/ref.js'
import type { TenantInput } from '../tenant/store.js'
import { TenantInactiveError } from './errors.js'
import { effectivePolicy, type EffectivePolicy } from './policy.js'

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
  private readonly rows: TenantRowCache

  constructor(
    private readonly client: LlmPrismaClient,
    private readonly provider: SqlProvider,
    private readonly config: LlmConfig,
    private readonly options: BudgetsOptions,
  ) {
    this.rows = new TenantRowCache(config.tenantCacheTtlMs)
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
  async admit(tenant: TenantRef | null | undefined, agentType: string, opts: { skipActiveCheck?: boolean; at?: Date } = {}): Promise<Admitted> {
    const resolved = !this.config.multiTenancy ? null : tenant instanceof ResolvedTenantRef ? tenant.value : await this.resolve(tenant)
    let row: TenantRow | null = null
    const overrides: ParsedOverride[] = []
    if (resolved) {
      if (resolved.override) overrides.push(resolved.override)
      row = await this.rows.get(resolved.tenantId, () => findTenantRow(this.client, resolved.tenantId))
      if (!row && this.options.autoCreate) {
        const input = this.options.autoCreate(resolved)
        if (input) row = await ensureTenantRow(this.client, this.provider, input, this.config.now())
      }
      if (row && row.active === false && !opts.skipActiveCheck) throw new TenantInactiveError(resolved.tenantId)
      if (this.config.tenantConfigResolver) {
        const extra = await this.config.tenantConfigResolver(resolved.tenantId)
        if (extra) overrides.push(parseOverride(extra, 'tenantConfigResolver()'))
      }
    }
    const tenantId = resolved?.tenantId ?? null
    const allKeys = counterKeysFor(tenantId, agentType, opts.at ?? this.config.now(), this.config.timeZone)
    const policy = effectivePolicy(this.config.budgets, tenantId, agentType, allKeys, row ? rowLimits(row) : null, overrides)
    return { tenantId, agentType, policy, keys: maintainedKeys(allKeys, policy) }
  }
}
