/**
 * Verifying a raw tenant API key on every request, cheaply and safely:
 * - the shape and checksum are checked first, from the string alone: malformed keys (wrong prefix,
 *   typos, 10 kB of junk) never reach the database;
 * - a well-formed key is looked up by its full hash only (a Map keyed by the hash in memory, the
 *   unique index in the database) — never by a prefix, and never by comparing secrets character
 *   by character, so a guess that shares a real key's beginning takes no less time;
 * - known keys are cached for `tenantCacheTtlMs` (a revocation reaches every process within it;
 *   this process sees its own at once), unknown hashes for `negativeCacheTtlMs`;
 * - `lastUsedAt` is written at most once a minute per key (a conditional UPDATE, so also across
 *   processes), off the request's path.
 */
import type { LlmConfig } from '../config/config.js'
import type { LlmPrismaClient } from '../db/client.js'
import { TenantInactiveError } from '../tenant/errors.js'
import { ApiKeyExpiredError, ApiKeyRevokedError, InvalidApiKeyError } from './errors.js'
import { hashApiKey, isWellFormedKey } from './format.js'
import { apiKeyLimits, toApiKeyRecord, type ApiKeyLimits, type ApiKeyRecord } from './key-record.js'

export interface VerifiedApiKey {
  tenantId: string
  tenant: { tenantId: string; name: string | null; active: boolean }
  /** The key (its stable id, also when a rotated-out secret was presented). */
  key: ApiKeyRecord
  /** Limits of the key, in storage units (admission uses them). */
  keyLimits: ApiKeyLimits
  /** The secret presented was rotated out and works until `key`'s rotation grace period ends. */
  rotatedSecret: { retiresAt: Date } | null
}

interface Known {
  key: Record<string, unknown>
  /** The rotated-out row the secret belongs to, when it is not the key's current secret. */
  rotated: Record<string, unknown> | null
  tenant: { tenantId: string; name: string | null; active: boolean } | null
  loadedAt: number
}

const LAST_USED_EVERY_MS = 60_000
const MAX_ENTRIES = 10_000

export class ApiKeyVerifier {
  private readonly known = new Map<string, Known>()
  private readonly unknown = new Map<string, number>()
  private readonly lastUsedWrites = new Map<string, number>()
  /**
   * Loads in flight by hash: concurrent requests with a key whose cache entry just expired share
   * one load (at 64 connections on 8 keys, each expiry otherwise sent ~8 identical pairs of
   * queries). Tagged with the generation they started in: after this process revoked or rotated a
   * key (`forgetKnown`), a request never joins — or caches — a load that began before.
   */
  private readonly loading = new Map<string, { generation: number; known: Promise<Known | null> }>()
  private generation = 0

  constructor(
    private readonly client: LlmPrismaClient,
    private readonly options: { prefix: string; pepper: string | null; config: LlmConfig; negativeCacheTtlMs: number },
  ) {}

  async verify(raw: unknown): Promise<VerifiedApiKey> {
    if (!isWellFormedKey(raw, this.options.prefix)) throw new InvalidApiKeyError('malformed')
    const hash = hashApiKey(raw, this.options.pepper)
    const clock = Date.now()
    const ttl = this.options.config.tenantCacheTtlMs
    let entry = this.known.get(hash)
    if (!entry || ttl <= 0 || clock - entry.loadedAt >= ttl) {
      const deniedAt = this.unknown.get(hash)
      if (deniedAt !== undefined && clock - deniedAt < this.options.negativeCacheTtlMs) throw new InvalidApiKeyError('unknown')
      const generation = this.generation
      const loaded = await this.sharedLoad(hash, clock, generation)
      if (!loaded) {
        remember(this.unknown, hash, clock)
        throw new InvalidApiKeyError('unknown')
      }
      entry = loaded
      this.unknown.delete(hash)
      if (ttl > 0 && generation === this.generation) remember(this.known, hash, entry)
    }
    return this.decide(entry)
  }

  private async sharedLoad(hash: string, clock: number, generation: number): Promise<Known | null> {
    const pending = this.loading.get(hash)
    if (pending && pending.generation === generation) return pending.known
    const known = this.load(hash, clock)
    this.loading.set(hash, { generation, known })
    try {
      return await known
    } finally {
      if (this.loading.get(hash)?.known === known) this.loading.delete(hash)
    }
  }

  /** Drops cached known keys (after this process revoked, rotated or changed one). */
  forgetKnown(): void {
    this.generation++
    this.known.clear()
  }

  /** Drops cached unknown hashes (after this process issued a key). */
  forgetUnknown(): void {
    this.unknown.clear()
  }

  private async load(hash: string, clock: number): Promise<Known | null> {
    const row = (await this.client.llmApiKey.findUnique({ where: { hash } })) as Record<string, unknown> | null
    if (!row) return null
    let key = row
    let rotated: Record<string, unknown> | null = null
    if (row.replacedBy) {
      const current = (await this.client.llmApiKey.findUnique({ where: { id: row.replacedBy as string } })) as Record<string, unknown> | null
      if (!current) return null
      key = current
      rotated = row
    }
    const tenant = (await this.client.llmTenant.findUnique({ where: { tenantId: key.tenantId as string } })) as Record<string, unknown> | null
    return {
      key,
      rotated,
      tenant: tenant ? { tenantId: tenant.tenantId as string, name: (tenant.name as string | null) ?? null, active: tenant.active !== false } : null,
      loadedAt: clock,
    }
  }

  private decide(entry: Known): VerifiedApiKey {
    const now = this.options.config.now().getTime()
    const key = toApiKeyRecord(entry.key) // decoded per request: each caller gets its own objects
    const rotatedRevokedAt = entry.rotated ? ((entry.rotated.revokedAt as Date | null) ?? null) : null
    if (!entry.tenant) throw new InvalidApiKeyError('tenant_deleted')
    if (key.revokedAt && key.revokedAt.getTime() <= now) throw new ApiKeyRevokedError(key.id, key.revokedAt)
    if (rotatedRevokedAt && rotatedRevokedAt.getTime() <= now) throw new ApiKeyRevokedError(key.id, rotatedRevokedAt)
    if (key.expiresAt && key.expiresAt.getTime() <= now) throw new ApiKeyExpiredError(key.id, key.expiresAt)
    if (!entry.tenant.active) throw new TenantInactiveError(entry.tenant.tenantId)
    this.touch(key.id, key.lastUsedAt, now)
    return {
      tenantId: key.tenantId,
      tenant: entry.tenant,
      key,
      keyLimits: apiKeyLimits(entry.key),
      rotatedSecret: rotatedRevokedAt ? { retiresAt: rotatedRevokedAt } : null,
    }
  }

  /** Records use at most once a minute per key: here per process, in the database across them. */
  private touch(id: string, lastUsedAt: Date | null, now: number): void {
    const last = Math.max(this.lastUsedWrites.get(id) ?? 0, lastUsedAt?.getTime() ?? 0)
    if (now - last < LAST_USED_EVERY_MS) return
    remember(this.lastUsedWrites, id, now)
    const at = new Date(now)
    void Promise.resolve(
      this.client.llmApiKey.updateMany({
        where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now - LAST_USED_EVERY_MS) } }] },
        data: { lastUsedAt: at },
      }),
    ).catch(() => undefined)
  }
}

/** A bounded Map: the oldest entries go first. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string)
}
