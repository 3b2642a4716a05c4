/**
 * The conversation store's core (LlmSessionStore in store.ts adds sessions and the tenant-wide
 * operations): each tenant's sessions and their items, in order. Every operation runs in
 * one transaction scoped to its tenant (`withTenantDb`: under the shipped row-level security the
 * database itself keeps it to that tenant's rows, and it works on a plain tenant role), and the
 * tenant is always an argument — the caller's authenticated tenant — never read from a session id.
 *
 * Appends are atomic and ordered: the session's row is locked and its `next_sequence` advanced by
 * the number of items in one statement, so concurrent appends to one session each get a contiguous
 * range and never interleave. Retention (`maxItems`, `maxAge`) and the tenant's storage quota
 * (`storageBytes`, checked under a per-tenant lock on PostgreSQL, the database lock on SQLite) are
 * applied in the same transaction: a refused append writes nothing.
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { parseSessionLimits, resolveSessionLimits, sessionLimitsFromJson, type SessionLimits, type SessionLimitsInput } from '../config/session-limits.js'
import { assertClient, detectProvider, Params, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { assertTenantValue, withTenantDb } from '../db/rls.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery, type JsonValue } from '../foundation/validation.js'
import { SessionQuotaExceededError } from './errors.js'
import { assertItemLimit, assertSessionId, toStoredItem, type StoredItem } from './items.js'

export interface SessionStoreOptions {
  /** The clock and `tenantCacheTtlMs` (how long a tenant's limits are cached). */
  config?: LlmConfig | LlmConfigInput
  /** Limits for tenants whose plan sets none (default: none). */
  defaults?: SessionLimitsInput
  /** A tenant's own limits, over its plan's (return nothing to use the plan's). */
  tenantLimits?: (tenantId: string) => SessionLimitsInput | null | undefined | Promise<SessionLimitsInput | null | undefined>
}

type Tx = LlmPrismaClient

/** One item to append, with the tokens it accounts for when known. */
export interface AppendEntry {
  item: unknown
  tokens?: number
}

const OPTION_KEYS = ['config', 'defaults', 'tenantLimits'] as const

export interface SessionOptions {
  /** The agent the session is for (recorded when the session is created). */
  agent?: string
  /** Free-form JSON recorded when the session is created. */
  metadata?: Record<string, unknown> | null
}

export class SessionCore {
  readonly config: LlmConfig
  /** @internal */
  readonly client: LlmPrismaClient
  /** @internal */
  readonly provider: SqlProvider
  private readonly defaults: Partial<SessionLimits>
  private readonly tenantLimits?: SessionStoreOptions['tenantLimits']
  private readonly planLimits = new Map<string, { limits: Partial<SessionLimits>; until: number }>()

  constructor(client: unknown, options: SessionStoreOptions = {}) {
    assertQuery(options, OPTION_KEYS, 'options')
    this.client = assertClient(client)
    this.provider = detectProvider(client)
    this.config = toConfig(options.config)
    this.defaults = options.defaults === undefined ? {} : parseSessionLimits(options.defaults, 'options.defaults')
    if (options.tenantLimits !== undefined && typeof options.tenantLimits !== 'function') {
      throw new InvalidArgumentError('options.tenantLimits', 'a function (tenantId) => limits', options.tenantLimits)
    }
    this.tenantLimits = options.tenantLimits
  }

  /** @internal Runs `fn` in one transaction scoped to `tenantId`. */
  inTenant<R>(tenantId: string, fn: (tx: Tx) => Promise<R>): Promise<R> {
    return withTenantDb(this.client, tenantId, fn as (tx: unknown) => Promise<R>)
  }

  /** The limits that apply to `tenantId` now: its own (options.tenantLimits), its plan's, the store's defaults. */
  async limitsFor(tenantId: string): Promise<SessionLimits> {
    const t = assertTenantValue(tenantId, 'tenantId')
    const own = await this.ownLimits(t)
    return this.inTenant(t, (tx) => this.limitsIn(tx, t, own))
  }

  /** @internal The limits of `tenantId` read with `tx` (its own limits `own` first, then its plan's, then the defaults). */
  async limitsIn(tx: Tx, tenantId: string, own: Partial<SessionLimits> | null): Promise<SessionLimits> {
    return resolveSessionLimits(own, await this.planLimitsOf(tx, tenantId), this.defaults)
  }

  /** @internal The app's per-tenant limits (called outside any transaction: app code holds no lock). */
  async ownLimits(tenantId: string): Promise<Partial<SessionLimits> | null> {
    const own = this.tenantLimits ? await this.tenantLimits(tenantId) : null
    return own == null ? null : parseSessionLimits(own, 'tenantLimits()')
  }

  /** @internal The limits of the plan `tenantId` is on now (cached for `tenantCacheTtlMs`), read with `tx`. */
  async planLimitsOf(tx: Tx, tenantId: string): Promise<Partial<SessionLimits>> {
    const now = this.config.now()
    const hit = this.planLimits.get(tenantId)
    if (hit && hit.until > Date.now()) return hit.limits
    const assignment = (await tx.llmTenantPlan.findFirst({
      where: { tenantId, effectiveFrom: { lte: now }, OR: [{ effectiveTo: null }, { effectiveTo: { gt: now } }] },
      orderBy: { effectiveFrom: 'desc' },
      select: { planId: true },
    })) as { planId: string } | null
    const plan = assignment
      ? ((await tx.llmPlan.findUnique({ where: { id: assignment.planId }, select: { sessionLimits: true } })) as { sessionLimits: unknown } | null)
      : null
    const limits = sessionLimitsFromJson(plan?.sessionLimits)
    if (this.planLimits.size > 10_000) this.planLimits.clear()
    this.planLimits.set(tenantId, { limits, until: Date.now() + this.config.tenantCacheTtlMs })
    return limits
  }

  /** @internal The instant before which items are expired (null: no maxAge). */
  cutoff(limits: SessionLimits): Date | null {
    return limits.maxAge === null ? null : new Date(this.config.now().getTime() - limits.maxAge * 1000)
  }

  /** @internal The newest `limit` unexpired items of a session, oldest first. */
  async readItems(tx: Tx, tenantId: string, sessionId: string, limits: SessionLimits, limit?: number): Promise<JsonValue[]> {
    const n = assertItemLimit(limit)
    if (n === 0) return []
    const cutoff = this.cutoff(limits)
    const rows = (await tx.llmSessionItem.findMany({
      where: { tenantId, sessionId, ...(cutoff ? { createdAt: { gte: cutoff } } : {}) },
      orderBy: { sequence: 'desc' },
      ...(n === undefined ? {} : { take: n }),
      select: { item: true },
    })) as Array<{ item: JsonValue }>
    return rows.reverse().map((r) => r.item)
  }

  /**
   * @internal What an agent run needs before its call, in one transaction: the session's history,
   * and whether the tenant has room left (`SessionQuotaExceededError` when its items already fill
   * its quota: refused before the model is called, so nothing is spent on a turn that cannot be kept).
   */
  async openForRun(tenantId: string, sessionId: string): Promise<JsonValue[]> {
    const own = await this.ownLimits(tenantId)
    return this.inTenant(tenantId, async (tx) => {
      const limits = await this.limitsIn(tx, tenantId, own)
      if (limits.storageBytes !== null) {
        const used = await this.tenantBytes(tx, tenantId)
        if (used >= limits.storageBytes) throw new SessionQuotaExceededError(tenantId, sessionId, limits.storageBytes, used, 0n)
      }
      return this.readItems(tx, tenantId, sessionId, limits)
    })
  }

  /**
   * Appends items to a session in one transaction (creating the session on first use), applies
   * retention and the storage quota; `SessionQuotaExceededError` (nothing written) when over it.
   */
  async append(tenantId: string, sessionId: string, entries: readonly AppendEntry[], options: SessionOptions = {}): Promise<void> {
    const t = assertTenantValue(tenantId, 'tenantId')
    const s = assertSessionId(sessionId)
    const stored = entries.map((e, i) => toStoredItem(e.item, `items[${i}]`, e.tokens))
    if (stored.length === 0) return
    const own = await this.ownLimits(t)
    await this.inTenant(t, async (tx) => {
      const limits = await this.limitsIn(tx, t, own)
      if (limits.storageBytes !== null) await this.lockTenant(tx, t)
      const added = stored.reduce((sum, x) => sum + BigInt(x.bytes), 0n)
      const first = await this.reserveSequences(tx, t, s, stored.length, added, options)
      const now = this.config.now()
      await tx.llmSessionItem.createMany({
        data: stored.map((x: StoredItem, i) => ({
          id: randomUUID(),
          tenantId: t,
          sessionId: s,
          sequence: first + i,
          role: x.role,
          item: x.value as object,
          tokens: x.tokens,
          bytes: x.bytes,
          createdAt: now,
        })),
      })
      const dropped = await this.applyRetention(tx, t, s, limits)
      if (limits.storageBytes !== null) {
        const net = added - dropped
        const used = await this.tenantBytes(tx, t)
        if (net > 0n && used > limits.storageBytes) throw new SessionQuotaExceededError(t, s, limits.storageBytes, used - net, net)
      }
    })
  }

  /** @internal Serialises a tenant's quota-checked appends (PostgreSQL; SQLite's writers are serial already). */
  async lockTenant(tx: Tx, tenantId: string): Promise<void> {
    if (this.provider === 'postgresql') await tx.$queryRawUnsafe('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text', `llm_sessions:${tenantId}`)
  }

  /** @internal Locks a session's row until commit, changing nothing; false if there is none. */
  async lockSession(tx: Tx, tenantId: string, sessionId: string): Promise<boolean> {
    const p = new Params(this.provider)
    const n = await tx.$executeRawUnsafe(
      `UPDATE "llm_sessions" SET "item_count" = "item_count" WHERE "tenant_id" = ${p.add(tenantId)} AND "session_id" = ${p.add(sessionId)}`,
      ...p.values,
    )
    return n > 0
  }

  /** @internal Bytes of all the tenant's stored items. */
  async tenantBytes(tx: Tx, tenantId: string): Promise<bigint> {
    const agg = (await tx.llmSession.aggregate({ where: { tenantId }, _sum: { bytes: true } })) as { _sum: { bytes: bigint | number | null } }
    return BigInt(agg._sum.bytes ?? 0)
  }

  /**
   * Advances the session's sequence by `n` (locking its row until commit: concurrent appends queue
   * here and get consecutive ranges) and returns the first sequence of the range.
   */
  private async reserveSequences(tx: Tx, tenantId: string, sessionId: string, n: number, bytes: bigint, options: SessionOptions): Promise<number> {
    const now = this.config.now()
    const p = new Params(this.provider)
    const update = `UPDATE "llm_sessions" SET "next_sequence" = "next_sequence" + ${p.add(n)}, "item_count" = "item_count" + ${p.add(n)},
      "bytes" = "bytes" + ${p.add(bytes)}, "updated_at" = ${p.add(now)}
      WHERE "tenant_id" = ${p.add(tenantId)} AND "session_id" = ${p.add(sessionId)} RETURNING "next_sequence"`
    let rows = (await tx.$queryRawUnsafe(update, ...p.values)) as Array<{ next_sequence: number | bigint }>
    if (rows.length === 0) {
      const q = new Params(this.provider)
      const json = (v: string) => (this.provider === 'postgresql' ? `CAST(${q.add(v)} AS JSONB)` : q.add(v))
      await tx.$executeRawUnsafe(
        `INSERT INTO "llm_sessions" ("id", "tenant_id", "session_id", "agent", "metadata", "created_at", "updated_at")
         VALUES (${q.add(randomUUID())}, ${q.add(tenantId)}, ${q.add(sessionId)}, ${q.add(options.agent ?? null)},
                 ${options.metadata == null ? 'NULL' : json(JSON.stringify(options.metadata))}, ${q.add(now)}, ${q.add(now)})
         ON CONFLICT ("tenant_id", "session_id") DO NOTHING`,
        ...q.values,
      )
      rows = (await tx.$queryRawUnsafe(update, ...p.values)) as Array<{ next_sequence: number | bigint }>
    }
    return Number(rows[0].next_sequence) - n
  }

  /** @internal Drops expired items and those beyond maxItems; returns the bytes freed. */
  async applyRetention(tx: Tx, tenantId: string, sessionId: string, limits: SessionLimits): Promise<bigint> {
    const where = { tenantId, sessionId }
    let items = 0
    let bytes = 0n
    const cutoff = this.cutoff(limits)
    if (cutoff) {
      const old = (await tx.llmSessionItem.aggregate({ where: { ...where, createdAt: { lt: cutoff } }, _count: { _all: true }, _sum: { bytes: true } })) as {
        _count: { _all: number }
        _sum: { bytes: number | null }
      }
      if (old._count._all > 0) {
        await tx.llmSessionItem.deleteMany({ where: { ...where, createdAt: { lt: cutoff } } })
        items += old._count._all
        bytes += BigInt(old._sum.bytes ?? 0)
      }
    }
    if (limits.maxItems !== null) {
      const kept = (await tx.llmSessionItem.count({ where })) as number
      if (kept > limits.maxItems) {
        const oldest = (await tx.llmSessionItem.findMany({
          where,
          orderBy: { sequence: 'asc' },
          take: kept - limits.maxItems,
          select: { sequence: true, bytes: true },
        })) as Array<{ sequence: number; bytes: number }>
        await tx.llmSessionItem.deleteMany({ where: { ...where, sequence: { lte: oldest[oldest.length - 1].sequence } } })
        items += oldest.length
        bytes += oldest.reduce((sum, r) => sum + BigInt(r.bytes), 0n)
      }
    }
    if (items > 0) {
      // Raw: retention is no activity of the session's, so its updated_at stays (Prisma would set @updatedAt).
      const p = new Params(this.provider)
      await tx.$executeRawUnsafe(
        `UPDATE "llm_sessions" SET "item_count" = "item_count" - ${p.add(items)}, "bytes" = "bytes" - ${p.add(bytes)}
          WHERE "tenant_id" = ${p.add(tenantId)} AND "session_id" = ${p.add(sessionId)}`,
        ...p.values,
      )
    }
    return bytes
  }
}
