/**
 * What admission reads of a tenant API key: its own limits and rate limits (storage units). Read
 * through the admission's TTL cache under `apiKeyCacheId(id)`; every write of this library to a
 * key bumps that id's version, so this process sees a change at once, others within the TTL.
 */
import type { LlmPrismaClient } from '../db/client.js'
import { bumpTenantVersion } from '../tenant/versions.js'
import { apiKeyLimits, type ApiKeyLimits } from './key-record.js'

/** The cache id of a key (distinct from every tenant id: tenant ids cannot contain NUL). */
export const apiKeyCacheId = (apiKeyId: string): string => `\u0000api_key:${apiKeyId}`

export async function loadApiKeyLimits(client: LlmPrismaClient, apiKeyId: string): Promise<ApiKeyLimits | null> {
  const row = (await client.llmApiKey.findUnique({ where: { id: apiKeyId } })) as Record<string, unknown> | null
  return row ? apiKeyLimits(row) : null
}

/** Invalidates this process's cached limits of a key. */
export function apiKeyChanged(apiKeyId: string): void {
  bumpTenantVersion(apiKeyCacheId(apiKeyId))
}
