/**
 * One tenant's executions in pages, newest first, that continue where the last one ended: keyset
 * pagination on (startedAt, id), so a page costs the same however deep it is (one range scan of
 * the tenant's index, never an OFFSET) and rows written meanwhile never shift or repeat a page.
 * Filters: one status, one agent type. Without a status, `refused` rows are left out like in every
 * ledger query (a refusal consumed nothing); `status: 'refused'` lists them.
 */
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, type LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertIdentifier, assertLimit, assertQuery } from '../foundation/validation.js'
import { toExecutionRecord } from './record.js'
import { EXECUTION_STATUSES, type ExecutionRecord, type ExecutionStatus } from './types.js'

export interface ExecutionPageQuery {
  /** The tenant whose executions are listed (required: a page never mixes tenants). */
  tenantId: string
  /** Only rows of this status (default: every status but `refused`). */
  status?: ExecutionStatus
  /** Only rows of this agent type. */
  agentType?: string
  /** Page size, 1–500 (default 20). */
  limit?: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
}

export interface ExecutionPage {
  executions: ExecutionRecord[]
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null
}

const QUERY_KEYS = ['tenantId', 'status', 'agentType', 'limit', 'cursor'] as const
const MAX_PAGE = 500

const encodeCursor = (row: ExecutionRecord) => Buffer.from(`${row.startedAt.getTime()}|${row.id}`).toString('base64url')

function decodeCursor(cursor: unknown): { at: Date; id: string } {
  const fail = () => new InvalidArgumentError('query.cursor', 'the nextCursor of a previous page', cursor)
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 400 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw fail()
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const bar = text.indexOf('|')
  const ms = text.slice(0, bar)
  const id = text.slice(bar + 1)
  if (bar < 1 || !/^\d{1,15}$/.test(ms) || id.length === 0 || id.length > 191) throw fail()
  return { at: new Date(Number(ms)), id }
}

/** Validates a page query (a typed error naming the field; nothing is read with a bad query). */
function parseQuery(query: unknown) {
  assertQuery(query, QUERY_KEYS, 'query')
  const q = query as ExecutionPageQuery
  const tenantId = assertIdentifier(q.tenantId, 'query.tenantId')
  if (q.status !== undefined && !(EXECUTION_STATUSES as readonly unknown[]).includes(q.status)) {
    throw new InvalidArgumentError('query.status', EXECUTION_STATUSES.join(', '), q.status)
  }
  const agentType = q.agentType === undefined ? undefined : assertIdentifier(q.agentType, 'query.agentType', 255)
  const limit = q.limit === undefined ? 20 : assertLimit(q.limit, 'query.limit', MAX_PAGE)
  const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
  return { tenantId, status: q.status, agentType, limit, cursor }
}

export class LlmExecutionPages {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.config = toConfig(config)
  }

  /** One page of a tenant's executions, newest first. */
  async page(query: ExecutionPageQuery): Promise<ExecutionPage> {
    const q = parseQuery(query)
    const and: Array<Record<string, unknown>> = [{ tenantId: q.tenantId }, { status: q.status ?? { not: 'refused' } }]
    if (q.agentType !== undefined) and.push({ agentType: q.agentType })
    if (q.cursor) and.push({ OR: [{ startedAt: { lt: q.cursor.at } }, { startedAt: q.cursor.at, id: { lt: q.cursor.id } }] })
    const rows = (await this.client.llmExecution.findMany({
      where: { AND: and },
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    })) as Array<Record<string, unknown>>
    const executions = rows.slice(0, q.limit).map(toExecutionRecord)
    return { executions, nextCursor: rows.length > q.limit ? encodeCursor(executions[executions.length - 1]) : null }
  }

  /** One execution of the tenant, or null — also when the id is another tenant's (never revealed). */
  async get(tenantId: string, id: string): Promise<ExecutionRecord | null> {
    const tenant = assertIdentifier(tenantId, 'tenantId')
    const executionId = assertIdentifier(id, 'id', 191)
    const row = (await this.client.llmExecution.findUnique({ where: { id: executionId } })) as Record<string, unknown> | null
    if (!row || row.tenantId !== tenant) return null
    return toExecutionRecord(row)
  }
}

/** Keyset-paginated executions over the app's Prisma client. */
export function createExecutionPages(client: unknown, config?: LlmConfig | LlmConfigInput): LlmExecutionPages {
  return new LlmExecutionPages(client, config)
}
