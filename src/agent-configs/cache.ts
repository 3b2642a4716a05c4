/**
 * The agent configs of tenants as agent runs read them: all of a tenant's configs in one indexed
 * read, cached per tenant for `tenantCacheTtlMs` (the same bound as tenant rows and plans). A write
 * through LlmAgentConfigs in this process bumps the tenant's version, so its next run reloads at
 * once; other processes see the change within the TTL. Concurrent misses share one load.
 */
import type { LlmPrismaClient } from '../db/client.js'
import { TenantRowCache } from '../tenant/loader.js'
import type { AgentConfigRecord } from './input.js'
import { loadAgentConfigs } from './store.js'

export class AgentConfigCache {
  private readonly cache: TenantRowCache<ReadonlyMap<string, AgentConfigRecord>>

  constructor(
    private readonly client: LlmPrismaClient,
    ttlMs: number,
    maxTenants = 10_000,
  ) {
    this.cache = new TenantRowCache(ttlMs, maxTenants)
  }

  /** The tenant's config of `agentName`, or null when the code-defined agent applies. */
  async configOf(tenantId: string, agentName: string): Promise<AgentConfigRecord | null> {
    const configs = await this.cache.get(tenantId, async () => new Map((await loadAgentConfigs(this.client, tenantId)).map((c) => [c.agentName, c])))
    return configs.get(agentName) ?? null
  }
}
