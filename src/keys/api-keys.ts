/**
 * Tenant API keys: issue, list, change, revoke and rotate (every change audited in its own
 * transaction), and verify (verify.ts). A key's row id is its stable identity: rotation gives the
 * row a new secret and keeps the old secret working, as a separate row pointing at it
 * (`replacedBy`), until the grace period ends — so usage, per-key budgets and rate limits, all kept
 * by the stable id, carry over a rotation (LiteLLM keyed spend by the hash and reset it on rotate).
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, type LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertIdentifier, assertQuery } from '../foundation/validation.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { changedFields, inTransaction, recordAuditEvent } from '../audit/record.js'
import { TenantNotFoundError } from '../tenant/errors.js'
import { ApiKeyNotFoundError, ApiKeyRevokedError } from './errors.js'
import { assertKeyPrefix, generateApiKey, hashApiKey, keyStart } from './format.js'
import { apiKeyToColumns, auditedKey, toApiKeyRecord, type ApiKeyChanges, type ApiKeyInput, type ApiKeyRecord } from './key-record.js'
import { ApiKeyVerifier, type VerifiedApiKey } from './verify.js'
import { apiKeyChanged } from './limits.js'

export interface ApiKeysOptions {
  /** The shared config (clock, `tenantCacheTtlMs` — how soon other processes see a revocation). */
  config?: LlmConfig | LlmConfigInput
  /** The prefix of issued keys, e.g. 'sk_live' (default 'sk'). Keys with another prefix are refused unread. */
  prefix?: string
  /** A server-side secret mixed into the lookup hash (HMAC-SHA-256); null = plain SHA-256. Changing it invalidates every key. */
  pepper?: string | null
  /** How long an unknown key is remembered as unknown (default 5000 ms): a flood of guesses costs few reads. */
  negativeCacheTtlMs?: number
}

/** What issuing a key returns: the record and the raw secret — shown this once, never stored. */
export interface IssuedApiKey {
  key: ApiKeyRecord
  secret: string
}

export interface KeyIssuing {
  prefix: string
  pepper: string | null
  now: Date
}

const OPTION_KEYS = ['config', 'prefix', 'pepper', 'negativeCacheTtlMs'] as const
const MAX_GRACE_MS = 30 * 86_400_000
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A grace period: milliseconds, or a duration such as '90s', '15m', '24h', '7d'; at most 30 days. */
export function parseGracePeriod(value: unknown, field = 'options.gracePeriod'): number {
  const allowed = "milliseconds (0 to 2592000000) or a duration such as '15m', '24h', '7d' (at most 30 days)"
  let ms: number | null = null
  if (typeof value === 'number' && Number.isInteger(value)) ms = value
  if (typeof value === 'string') {
    const m = /^(\d{1,7})(ms|s|m|h|d)$/.exec(value)
    if (m) ms = Number(m[1]) * UNITS[m[2]]
  }
  if (ms === null || ms < 0 || ms > MAX_GRACE_MS) throw new InvalidArgumentError(field, allowed, value)
  return ms
}

/**
 * Issues a key for a tenant inside the caller's transaction `tx` (provisioning uses this to issue
 * the first key with the tenant): the row, then its `api_key.created` event — unless `audit` is
 * false, when the caller's own event records the key (provisioning's one `tenant.provisioned`).
 * Throws TenantNotFoundError when the tenant row does not exist.
 */
export async function issueApiKey(
  tx: LlmPrismaClient,
  tenantId: string,
  input: ApiKeyInput,
  issuing: KeyIssuing,
  audit?: AuditOptions | false,
): Promise<IssuedApiKey> {
  const data = apiKeyToColumns(input, 'input', true)
  const tenant = await tx.llmTenant.findUnique({ where: { tenantId } })
  if (!tenant) throw new TenantNotFoundError(tenantId)
  const secret = generateApiKey(issuing.prefix)
  const row = await tx.llmApiKey.create({
    data: { id: randomUUID(), tenantId, start: keyStart(secret, issuing.prefix), hash: hashApiKey(secret, issuing.pepper), createdAt: issuing.now, ...data },
  })
  const key = toApiKeyRecord(row as Record<string, unknown>)
  if (audit !== false)
    await recordAuditEvent(tx, { action: 'api_key.created', tenantId, targetType: 'api_key', targetId: key.id, after: auditedKey(key) }, issuing.now, audit)
  return { key, secret }
}

export class LlmApiKeys {
  readonly config: LlmConfig
  readonly prefix: string
  private readonly client: LlmPrismaClient
  private readonly pepper: string | null
  private readonly verifier: ApiKeyVerifier

  constructor(client: unknown, options: ApiKeysOptions = {}) {
    assertQuery(options, OPTION_KEYS, 'options')
    this.client = assertClient(client)
    this.config = toConfig(options.config)
    this.prefix = assertKeyPrefix(options.prefix ?? 'sk', 'options.prefix')
    if (options.pepper !== undefined && options.pepper !== null && (typeof options.pepper !== 'string' || options.pepper.length < 16)) {
      throw new InvalidArgumentError('options.pepper', 'a string of at least 16 characters, or null', '[a pepper]')
    }
    this.pepper = options.pepper ?? null
    const negative = options.negativeCacheTtlMs ?? 5000
    if (!Number.isInteger(negative) || negative < 0 || negative > 3_600_000) {
      throw new InvalidArgumentError('options.negativeCacheTtlMs', 'an integer from 0 to 3600000', negative)
    }
    this.verifier = new ApiKeyVerifier(this.client, { prefix: this.prefix, pepper: this.pepper, config: this.config, negativeCacheTtlMs: negative })
  }

  /** Issues a key for the tenant; the raw secret is in the result, this once. */
  async createApiKey(tenantId: string, input: ApiKeyInput, audit?: AuditOptions): Promise<IssuedApiKey> {
    const id = assertIdentifier(tenantId, 'tenantId')
    apiKeyToColumns(input, 'input', true)
    assertAuditOptions(audit)
    const issued = await inTransaction(this.client, (tx) => issueApiKey(tx, id, input, this.issuing(), audit))
    this.verifier.forgetUnknown()
    return issued
  }

  /** The tenant (and key) a raw key belongs to, or a typed refusal (see verify.ts). */
  verifyApiKey(raw: unknown): Promise<VerifiedApiKey> {
    return this.verifier.verify(raw)
  }

  /** A tenant's keys, oldest first — never a secret or its hash. Rotated-out secrets only with `includeRotated`. */
  async listApiKeys(tenantId: string, options: { includeRotated?: boolean } = {}): Promise<ApiKeyRecord[]> {
    const id = assertIdentifier(tenantId, 'tenantId')
    assertQuery(options, ['includeRotated'], 'options')
    if (options.includeRotated !== undefined && typeof options.includeRotated !== 'boolean')
      throw new InvalidArgumentError('options.includeRotated', 'true or false', options.includeRotated)
    const rows = (await this.client.llmApiKey.findMany({
      where: { tenantId: id, ...(options.includeRotated ? {} : { replacedBy: null }) },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    })) as Array<Record<string, unknown>>
    return rows.map(toApiKeyRecord)
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord> {
    return toApiKeyRecord(await this.row(this.client, assertIdentifier(keyId, 'keyId')))
  }

  /** Changes a key's name, expiry, limits or metadata (audited: `api_key.updated`). */
  async updateApiKey(keyId: string, changes: ApiKeyChanges, audit?: AuditOptions): Promise<ApiKeyRecord> {
    const id = assertIdentifier(keyId, 'keyId')
    const data = apiKeyToColumns(changes, 'changes', false)
    assertAuditOptions(audit)
    const record = await inTransaction(this.client, async (tx) => {
      const before = toApiKeyRecord(await this.row(tx, id))
      const after = toApiKeyRecord((await tx.llmApiKey.update({ where: { id }, data })) as Record<string, unknown>)
      const diff = changedFields(auditedKey(before), auditedKey(after))
      await recordAuditEvent(
        tx,
        { action: 'api_key.updated', tenantId: after.tenantId, targetType: 'api_key', targetId: id, ...diff },
        this.config.now(),
        audit,
      )
      return after
    })
    this.verifier.forgetKnown()
    apiKeyChanged(id)
    return record
  }

  /** Revokes a key now, and any rotated-out secret of it still in its grace period. Revoking twice is refused. */
  async revokeApiKey(keyId: string, audit?: AuditOptions): Promise<ApiKeyRecord> {
    const id = assertIdentifier(keyId, 'keyId')
    assertAuditOptions(audit)
    const now = this.config.now()
    const record = await inTransaction(this.client, async (tx) => {
      const before = toApiKeyRecord(await this.row(tx, id))
      if (before.revokedAt && before.revokedAt.getTime() <= now.getTime()) throw new ApiKeyRevokedError(id, before.revokedAt)
      const after = toApiKeyRecord((await tx.llmApiKey.update({ where: { id }, data: { revokedAt: now } })) as Record<string, unknown>)
      await tx.llmApiKey.updateMany({ where: { replacedBy: id, OR: [{ revokedAt: null }, { revokedAt: { gt: now } }] }, data: { revokedAt: now } })
      await recordAuditEvent(
        tx,
        {
          action: 'api_key.revoked',
          tenantId: after.tenantId,
          targetType: 'api_key',
          targetId: id,
          before: { revokedAt: before.revokedAt },
          after: { revokedAt: now },
        },
        now,
        audit,
      )
      return after
    })
    this.verifier.forgetKnown()
    apiKeyChanged(id)
    return record
  }

  /**
   * Gives the key a new secret (returned once); the old secret keeps working for `gracePeriod`
   * (default 0: refused at once), then is refused. The key's id — and so its usage, budgets and
   * rate limits — stays the same.
   */
  async rotateApiKey(
    keyId: string,
    options: { gracePeriod?: number | string } = {},
    audit?: AuditOptions,
  ): Promise<IssuedApiKey & { previousSecretRetiresAt: Date }> {
    const id = assertIdentifier(keyId, 'keyId')
    assertQuery(options, ['gracePeriod'], 'options')
    const grace = options.gracePeriod === undefined ? 0 : parseGracePeriod(options.gracePeriod)
    assertAuditOptions(audit)
    const now = this.config.now()
    const retiresAt = new Date(now.getTime() + grace)
    const secret = generateApiKey(this.prefix)
    const result = await inTransaction(this.client, async (tx) => {
      const current = (await this.row(tx, id)) as Record<string, unknown> & { hash: string; start: string }
      const before = toApiKeyRecord(current)
      if (before.replacedBy !== null) throw new InvalidArgumentError('keyId', `the current key (this secret was rotated into ${before.replacedBy})`, id)
      if (before.revokedAt && before.revokedAt.getTime() <= now.getTime()) throw new ApiKeyRevokedError(id, before.revokedAt)
      // The row keeps its id and takes the new secret; the old secret moves to a row of its own.
      const after = toApiKeyRecord(
        (await tx.llmApiKey.update({ where: { id }, data: { hash: hashApiKey(secret, this.pepper), start: keyStart(secret, this.prefix) } })) as Record<
          string,
          unknown
        >,
      )
      await tx.llmApiKey.create({
        data: {
          id: randomUUID(),
          tenantId: before.tenantId,
          name: before.name,
          start: current.start,
          hash: current.hash,
          createdAt: before.createdAt,
          expiresAt: before.expiresAt,
          revokedAt: retiresAt,
          replacedBy: id,
        },
      })
      await recordAuditEvent(
        tx,
        {
          action: 'api_key.rotated',
          tenantId: before.tenantId,
          targetType: 'api_key',
          targetId: id,
          before: { start: before.start },
          after: { start: after.start },
          metadata: { gracePeriodMs: grace, previousSecretRetiresAt: retiresAt },
        },
        now,
        audit,
      )
      return { key: after, secret, previousSecretRetiresAt: retiresAt }
    })
    this.verifier.forgetKnown()
    this.verifier.forgetUnknown()
    apiKeyChanged(id)
    return result
  }

  /** How this store issues keys (prefix, pepper, clock): for issueApiKey inside another transaction. */
  issuing(): KeyIssuing {
    return { prefix: this.prefix, pepper: this.pepper, now: this.config.now() }
  }

  private async row(db: LlmPrismaClient, id: string): Promise<Record<string, unknown>> {
    const row = (await db.llmApiKey.findUnique({ where: { id } })) as Record<string, unknown> | null
    if (!row) throw new ApiKeyNotFoundError(id)
    return row
  }
}

/** The API key store over the app's Prisma client. */
export function createApiKeys(client: unknown, options?: ApiKeysOptions): LlmApiKeys {
  return new LlmApiKeys(client, options)
}
