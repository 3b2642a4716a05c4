/**
 * `createSessionStore(prisma, options)`: the conversation store (docs/sessions.md). `session()`
 * gives one session (the OpenAI Agents SDK's `Session` interface); the rest serve a tenant as a
 * whole — listing its sessions, exporting them as JSON and deleting them (data-subject requests;
 * exports and deletions are audited in their own transaction), its storage against its quota, and
 * pruning what retention (`maxAge`, `maxItems`) no longer keeps.
 */
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { recordAuditEvent } from '../audit/record.js'
import { assertTenantValue } from '../db/rls.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertLimit, assertQuery, type JsonValue } from '../foundation/validation.js'
import { SessionCore, type SessionOptions, type SessionStoreOptions } from './core.js'
import { assertSessionId, type SessionItem } from './items.js'
import { TenantSession } from './session.js'

export interface SessionSummary {
  sessionId: string
  agent: string | null
  itemCount: number
  /** UTF-8 bytes of the session's items (what the storage quota counts). */
  bytes: number
  metadata: JsonValue | null
  createdAt: Date
  updatedAt: Date
}

export interface SessionPage {
  sessions: SessionSummary[]
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null
}

/** A tenant's sessions as JSON (`JSON.stringify` it as it is): everything stored, items in order. */
export interface SessionExport {
  tenantId: string
  exportedAt: string
  sessions: Array<{
    sessionId: string
    agent: string | null
    metadata: JsonValue | null
    createdAt: string
    updatedAt: string
    items: Array<{ sequence: number; role: string | null; item: JsonValue; tokens: number; createdAt: string }>
  }>
}

export interface SessionStorage {
  sessions: number
  items: number
  bytes: number
  /** The limits in force for the tenant (null = none). */
  limits: { maxItems: number | null; maxAge: number | null; storageBytes: number | null }
}

interface SessionRow {
  sessionId: string
  agent: string | null
  itemCount: number
  bytes: bigint | number
  metadata: JsonValue | null
  createdAt: Date
  updatedAt: Date
}

const summary = (r: SessionRow): SessionSummary => ({
  sessionId: r.sessionId,
  agent: r.agent ?? null,
  itemCount: Number(r.itemCount),
  bytes: Number(r.bytes),
  metadata: r.metadata ?? null,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
})
const encodeCursor = (sessionId: string) => Buffer.from(JSON.stringify([sessionId]), 'utf8').toString('base64url')
function decodeCursor(cursor: unknown): string {
  try {
    const [id] = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8')) as [unknown]
    return assertSessionId(id)
  } catch {
    throw new InvalidArgumentError('query.cursor', 'the nextCursor of a previous page', cursor)
  }
}

export class LlmSessionStore extends SessionCore {
  /**
   * The session `sessionId` of `tenantId` (the caller's authenticated tenant), implementing the
   * OpenAI Agents SDK's `Session` interface — pass `T = AgentInputItem` to type it for that SDK.
   * Nothing is read or written until a method is called; its first append creates the session.
   */
  session<T extends object = SessionItem>(tenantId: string, sessionId: string, options: SessionOptions = {}): TenantSession<T> {
    assertQuery(options, ['agent', 'metadata'], 'options')
    if (options.agent !== undefined && (typeof options.agent !== 'string' || options.agent === '')) {
      throw new InvalidArgumentError('options.agent', 'a non-empty string', options.agent)
    }
    if (options.metadata != null && (typeof options.metadata !== 'object' || Array.isArray(options.metadata))) {
      throw new InvalidArgumentError('options.metadata', 'a plain JSON object or null', options.metadata)
    }
    return new TenantSession<T>(this, assertTenantValue(tenantId, 'tenantId'), assertSessionId(sessionId), options)
  }

  /** A tenant's sessions by id (keyset pages: `limit` 1–500, default 50; `cursor` from the previous page). */
  async listSessions(tenantId: string, query: { limit?: number; cursor?: string } = {}): Promise<SessionPage> {
    const t = assertTenantValue(tenantId, 'tenantId')
    assertQuery(query, ['limit', 'cursor'], 'query')
    const limit = query.limit === undefined ? 50 : assertLimit(query.limit, 'query.limit', 500)
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
    const rows = (await this.inTenant(t, async (tx) =>
      tx.llmSession.findMany({
        where: { tenantId: t, ...(after === undefined ? {} : { sessionId: { gt: after } }) },
        orderBy: { sessionId: 'asc' },
        take: limit + 1,
      }),
    )) as SessionRow[]
    const page = rows.slice(0, limit).map(summary)
    return { sessions: page, nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1].sessionId) : null }
  }

  /**
   * Everything stored for a tenant's sessions (or only `sessionIds`), as JSON — for a data-subject
   * request. Audited (`sessions.exported`, with the counts) in the transaction that reads it.
   */
  async exportSessions(tenantId: string, options: { sessionIds?: string[] } = {}, audit?: AuditOptions): Promise<SessionExport> {
    const t = assertTenantValue(tenantId, 'tenantId')
    assertQuery(options, ['sessionIds'], 'options')
    if (options.sessionIds !== undefined && !Array.isArray(options.sessionIds)) {
      throw new InvalidArgumentError('options.sessionIds', 'an array of session ids', options.sessionIds)
    }
    const ids = options.sessionIds?.map((id, i) => assertSessionId(id, `options.sessionIds[${i}]`))
    assertAuditOptions(audit)
    return this.inTenant(t, async (tx) => {
      const filter = { tenantId: t, ...(ids ? { sessionId: { in: ids } } : {}) }
      const sessions = (await tx.llmSession.findMany({ where: filter, orderBy: { sessionId: 'asc' } })) as SessionRow[]
      const items = (await tx.llmSessionItem.findMany({ where: filter, orderBy: [{ sessionId: 'asc' }, { sequence: 'asc' }] })) as Array<{
        sessionId: string
        sequence: number
        role: string | null
        item: JsonValue
        tokens: number
        createdAt: Date
      }>
      const bySession = new Map<string, SessionExport['sessions'][number]['items']>()
      for (const i of items) {
        const list = bySession.get(i.sessionId) ?? []
        list.push({ sequence: i.sequence, role: i.role ?? null, item: i.item, tokens: i.tokens, createdAt: i.createdAt.toISOString() })
        bySession.set(i.sessionId, list)
      }
      const now = this.config.now()
      await recordAuditEvent(
        tx,
        {
          action: 'sessions.exported',
          tenantId: t,
          targetType: 'tenant',
          targetId: t,
          metadata: { sessions: sessions.length, items: items.length, ...(ids ? { sessionIds: ids } : {}) },
        },
        now,
        audit,
      )
      return {
        tenantId: t,
        exportedAt: now.toISOString(),
        sessions: sessions.map((s) => ({
          sessionId: s.sessionId,
          agent: s.agent ?? null,
          metadata: s.metadata ?? null,
          createdAt: s.createdAt.toISOString(),
          updatedAt: s.updatedAt.toISOString(),
          items: bySession.get(s.sessionId) ?? [],
        })),
      }
    })
  }

  /** Deletes one session and its items; false if there was none. Audited (`session.deleted`). */
  async deleteSession(tenantId: string, sessionId: string, audit?: AuditOptions): Promise<boolean> {
    const t = assertTenantValue(tenantId, 'tenantId')
    const s = assertSessionId(sessionId)
    assertAuditOptions(audit)
    return this.inTenant(t, async (tx) => {
      const where = { tenantId: t, sessionId: s }
      const row = (await tx.llmSession.findFirst({ where })) as SessionRow | null
      if (!row) return false
      const { count: items } = (await tx.llmSessionItem.deleteMany({ where })) as { count: number }
      await tx.llmSession.deleteMany({ where })
      await recordAuditEvent(
        tx,
        { action: 'session.deleted', tenantId: t, targetType: 'session', targetId: s, before: { agent: row.agent ?? null, items, bytes: Number(row.bytes) } },
        this.config.now(),
        audit,
      )
      return true
    })
  }

  /** Deletes every session of a tenant; returns how many. Audited (`sessions.deleted`) when there were any. */
  async deleteSessions(tenantId: string, audit?: AuditOptions): Promise<number> {
    const t = assertTenantValue(tenantId, 'tenantId')
    assertAuditOptions(audit)
    return this.inTenant(t, async (tx) => {
      const { count: items } = (await tx.llmSessionItem.deleteMany({ where: { tenantId: t } })) as { count: number }
      const { count: sessions } = (await tx.llmSession.deleteMany({ where: { tenantId: t } })) as { count: number }
      if (sessions > 0 || items > 0) {
        await recordAuditEvent(
          tx,
          { action: 'sessions.deleted', tenantId: t, targetType: 'tenant', targetId: t, before: { sessions, items } },
          this.config.now(),
          audit,
        )
      }
      return sessions
    })
  }

  /** A tenant's stored sessions, items and bytes, with the limits in force. */
  async storage(tenantId: string): Promise<SessionStorage> {
    const t = assertTenantValue(tenantId, 'tenantId')
    const own = await this.ownLimits(t)
    return this.inTenant(t, async (tx) => {
      const limits = await this.limitsIn(tx, t, own)
      const agg = (await tx.llmSession.aggregate({ where: { tenantId: t }, _count: { _all: true }, _sum: { itemCount: true, bytes: true } })) as {
        _count: { _all: number }
        _sum: { itemCount: number | null; bytes: bigint | number | null }
      }
      return {
        sessions: agg._count._all,
        items: Number(agg._sum.itemCount ?? 0),
        bytes: Number(agg._sum.bytes ?? 0),
        limits: { maxItems: limits.maxItems, maxAge: limits.maxAge, storageBytes: limits.storageBytes === null ? null : Number(limits.storageBytes) },
      }
    })
  }

  /**
   * Deletes what retention no longer keeps — items older than `maxAge`, items beyond `maxItems`, and
   * sessions left empty for longer than `maxAge` — for one tenant, or for every tenant with sessions
   * (run that as the service role under row-level security). Returns what it deleted.
   */
  async prune(tenantId?: string): Promise<{ items: number; sessions: number }> {
    if (tenantId === undefined) {
      const tenants = (await this.client.llmSession.findMany({ distinct: ['tenantId'], select: { tenantId: true } })) as Array<{ tenantId: string }>
      const total = { items: 0, sessions: 0 }
      for (const { tenantId: t } of tenants) {
        const r = await this.prune(t)
        total.items += r.items
        total.sessions += r.sessions
      }
      return total
    }
    const t = assertTenantValue(tenantId, 'tenantId')
    const own = await this.ownLimits(t)
    return this.inTenant(t, async (tx) => {
      const limits = await this.limitsIn(tx, t, own)
      if (limits.maxAge === null && limits.maxItems === null) return { items: 0, sessions: 0 }
      const sessions = (await tx.llmSession.findMany({ where: { tenantId: t }, select: { sessionId: true, itemCount: true, updatedAt: true } })) as Array<
        Pick<SessionRow, 'sessionId' | 'itemCount' | 'updatedAt'>
      >
      const cutoff = this.cutoff(limits)
      let items = 0
      const empty: string[] = []
      for (const s of sessions) {
        if (cutoff === null && (limits.maxItems === null || s.itemCount <= limits.maxItems)) continue
        const before = Number(s.itemCount)
        await this.applyRetention(tx, t, s.sessionId, limits)
        const left = (await tx.llmSessionItem.count({ where: { tenantId: t, sessionId: s.sessionId } })) as number
        items += before - left
        if (left === 0 && cutoff !== null && s.updatedAt < cutoff) empty.push(s.sessionId)
      }
      if (empty.length > 0) await tx.llmSession.deleteMany({ where: { tenantId: t, sessionId: { in: empty } } })
      return { items, sessions: empty.length }
    })
  }
}

/** Creates the conversation store over the app's Prisma client. */
export function createSessionStore(client: unknown, options?: SessionStoreOptions): LlmSessionStore {
  return new LlmSessionStore(client, options)
}
