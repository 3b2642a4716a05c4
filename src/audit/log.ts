/**
 * Reading the audit log: events by tenant, action, actor and period, newest first, in pages that
 * continue where the last one ended (keyset pagination on (occurredAt, id): a page costs the same
 * however deep it is, and events written meanwhile never shift or repeat a page).
 */
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, type LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { resolvePeriod, type PeriodInput } from '../foundation/periods.js'
import { assertIdentifier, assertLimit, assertQuery, type JsonValue } from '../foundation/validation.js'

export interface AuditEventRecord {
  id: string
  occurredAt: Date
  actor: { type: string; id: string | null }
  apiKeyId: string | null
  tenantId: string | null
  action: string
  target: { type: string; id: string | null }
  before: JsonValue | null
  after: JsonValue | null
  requestId: string | null
  idempotencyKey: string | null
  metadata: JsonValue | null
}

export interface AuditQuery {
  tenantId?: string
  /** One action, or several. */
  action?: string | string[]
  actorType?: string
  actorId?: string
  period?: PeriodInput
  /** Page size, 1–500 (default 50). */
  limit?: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
}

export interface AuditPage {
  events: AuditEventRecord[]
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null
}

const QUERY_KEYS = ['tenantId', 'action', 'actorType', 'actorId', 'period', 'limit', 'cursor'] as const

function toAuditEventRecord(row: Record<string, unknown>): AuditEventRecord {
  return {
    id: row.id as string,
    occurredAt: row.occurredAt as Date,
    actor: { type: row.actorType as string, id: (row.actorId as string | null) ?? null },
    apiKeyId: (row.apiKeyId as string | null) ?? null,
    tenantId: (row.tenantId as string | null) ?? null,
    action: row.action as string,
    target: { type: row.targetType as string, id: (row.targetId as string | null) ?? null },
    before: (row.before as JsonValue | null) ?? null,
    after: (row.after as JsonValue | null) ?? null,
    requestId: (row.requestId as string | null) ?? null,
    idempotencyKey: (row.idempotencyKey as string | null) ?? null,
    metadata: (row.metadata as JsonValue | null) ?? null,
  }
}

const encodeCursor = (row: AuditEventRecord) => Buffer.from(`${row.occurredAt.getTime()}|${row.id}`).toString('base64url')

function decodeCursor(cursor: unknown): { at: Date; id: string } {
  const fail = () => new InvalidArgumentError('query.cursor', 'the nextCursor of a previous page', cursor)
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 400) throw fail()
  const [ms, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!/^\d{1,15}$/.test(ms ?? '') || !id) throw fail()
  return { at: new Date(Number(ms)), id }
}

export class LlmAuditLog {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.config = toConfig(config)
  }

  /** One page of events, newest first. */
  async events(query: AuditQuery = {}): Promise<AuditPage> {
    assertQuery(query, QUERY_KEYS, 'query')
    const and: Array<Record<string, unknown>> = []
    if (query.tenantId !== undefined) and.push({ tenantId: assertIdentifier(query.tenantId, 'query.tenantId') })
    if (query.action !== undefined) {
      const actions = Array.isArray(query.action) ? query.action : [query.action]
      if (actions.length === 0) throw new InvalidArgumentError('query.action', 'an action or a non-empty list of actions', query.action)
      and.push({ action: { in: actions.map((a, i) => assertIdentifier(a, `query.action[${i}]`, 64)) } })
    }
    if (query.actorType !== undefined) and.push({ actorType: assertIdentifier(query.actorType, 'query.actorType', 64) })
    if (query.actorId !== undefined) and.push({ actorId: assertIdentifier(query.actorId, 'query.actorId', 191) })
    if (query.period !== undefined) {
      const { from, to } = resolvePeriod(query.period, this.config, 'query.period')
      and.push({ occurredAt: { gte: from, lt: to } })
    }
    const limit = query.limit === undefined ? 50 : assertLimit(query.limit, 'query.limit', 500)
    if (query.cursor !== undefined) {
      const { at, id } = decodeCursor(query.cursor)
      and.push({ OR: [{ occurredAt: { lt: at } }, { occurredAt: at, id: { lt: id } }] })
    }
    const rows = (await this.client.llmAuditEvent.findMany({
      where: { AND: and },
      orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
      take: limit + 1,
    })) as Array<Record<string, unknown>>
    const events = rows.slice(0, limit).map(toAuditEventRecord)
    return { events, nextCursor: rows.length > limit ? encodeCursor(events[events.length - 1]) : null }
  }
}

/** The audit log over the app's Prisma client. */
export function createAuditLog(client: unknown, config?: LlmConfig | LlmConfigInput): LlmAuditLog {
  return new LlmAuditLog(client, config)
}
