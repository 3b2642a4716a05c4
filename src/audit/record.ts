/**
 * Writing audit events. `recordAuditEvent(tx, …)` is called by every admin write of the library
 * with the transaction that makes the change, so the change and its event commit or roll back
 * together. Events record only the fields that changed (before and after), with credential-shaped
 * keys redacted and secrets (key hashes, raw keys) never passed in.
 */
import { randomUUID } from 'node:crypto'
import { placeholder, type LlmPrismaClient, type RawRunner, type SqlProvider } from '../db/client.js'
import { redactMetadata } from '../foundation/redact.js'
import { actorOf, type AuditOptions } from './actor.js'

/** The actions the library records (apps may record their own with `recordAuditEvent`). */
export const AUDIT_ACTIONS = [
  'tenant.created',
  'tenant.updated',
  'tenant.limits.changed',
  'tenant.activated',
  'tenant.deactivated',
  'tenant.provisioned',
  'plan.defined',
  'plan.updated',
  'plan.deleted',
  'plan.changed',
  'api_key.created',
  'api_key.updated',
  'api_key.revoked',
  'api_key.rotated',
  'agent_config.changed',
  'agent_config.deleted',
  'agent_template.changed',
  'agent_template.deleted',
  'session.deleted',
  'sessions.deleted',
  'sessions.exported',
  'invoice.generated',
  'invoice.regenerated',
  'invoice.finalized',
  'invoice.voided',
  'invoice.adjusted',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEventInput {
  action: AuditAction | (string & {})
  tenantId?: string | null
  /** What was changed: 'tenant', 'plan', 'api_key', 'agent_config', … */
  targetType: string
  targetId?: string | null
  before?: Record<string, unknown> | null
  after?: Record<string, unknown> | null
  /** Provisioning's idempotency key (unique among events). */
  idempotencyKey?: string | null
  metadata?: Record<string, unknown> | null
}

/** A JSON-safe copy: bigints and Decimals as strings, Dates as ISO strings, credentials redacted. */
function auditJson(value: unknown): unknown {
  const plain = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v.toString()
    if (v instanceof Date) return v.toISOString()
    if (v === null || typeof v !== 'object') return v
    if (Array.isArray(v)) return v.map(plain)
    // decimal.js values (money) serialise as their exact string
    if (typeof (v as { toFixed?: unknown }).toFixed === 'function' && typeof (v as { isFinite?: unknown }).isFinite === 'function') return String(v)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  }
  return redactMetadata(plain(value))
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The parts of two JSON values that differ: nested objects are compared field by field. */
function diff(b: Record<string, unknown>, a: Record<string, unknown>, ignore: readonly string[]): [Record<string, unknown>, Record<string, unknown>] {
  const changedB: Record<string, unknown> = {}
  const changedA: Record<string, unknown> = {}
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (ignore.includes(key)) continue
    const [x, y] = [b[key] ?? null, a[key] ?? null]
    if (isPlainObject(x) && isPlainObject(y)) {
      const [nb, na] = diff(x, y, [])
      if (Object.keys(nb).length > 0 || Object.keys(na).length > 0) [changedB[key], changedA[key]] = [nb, na]
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      changedB[key] = x
      changedA[key] = y
    }
  }
  return [changedB, changedA]
}

/**
 * The fields of `after` whose value differs from `before` (compared as JSON; nested objects such
 * as `limits` field by field), as a pair of objects holding only those fields. With one side
 * null (a creation or deletion) the other is recorded whole.
 */
export function changedFields(
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
  ignore: readonly string[] = ['updatedAt', 'createdAt'],
): { before: Record<string, unknown> | null; after: Record<string, unknown> | null } {
  const b = before && (auditJson(before) as Record<string, unknown>)
  const a = after && (auditJson(after) as Record<string, unknown>)
  if (b === null || a === null) return { before: b, after: a }
  const [changedB, changedA] = diff(b, a, ignore)
  return { before: changedB, after: changedA }
}

/** The row of one event (what both writers below insert). */
function auditRow(event: AuditEventInput, at: Date, options?: AuditOptions): Record<string, unknown> {
  const actor = actorOf(options)
  const metadata = { ...(event.metadata ?? {}), ...(options?.auditMetadata ?? {}) }
  return {
    id: randomUUID(),
    occurredAt: at,
    actorType: actor.type,
    actorId: actor.id ?? null,
    apiKeyId: actor.apiKeyId ?? null,
    tenantId: event.tenantId ?? null,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId ?? null,
    // Prisma rejects a bare null for Json columns; undefined leaves them NULL.
    before: event.before == null ? undefined : auditJson(event.before),
    after: event.after == null ? undefined : auditJson(event.after),
    requestId: actor.requestId ?? null,
    idempotencyKey: event.idempotencyKey ?? null,
    metadata: Object.keys(metadata).length === 0 ? undefined : auditJson(metadata),
  }
}

/** Writes one audit event with `db` (the change's transaction). Returns the event id. */
export async function recordAuditEvent(db: LlmPrismaClient, event: AuditEventInput, at: Date, options?: AuditOptions): Promise<string> {
  const data = auditRow(event, at, options)
  await db.llmAuditEvent.create({ data })
  return data.id as string
}

const EVENT_COLUMNS = [
  'id',
  'occurredAt',
  'actorType',
  'actorId',
  'apiKeyId',
  'tenantId',
  'action',
  'targetType',
  'targetId',
  'before',
  'after',
  'requestId',
  'idempotencyKey',
  'metadata',
] as const
const JSON_COLUMNS = new Set(['before', 'after', 'metadata'])
const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/**
 * Writes many events — one per change of a batch write, e.g. an invoicing run — with `db` (the
 * batch's transaction), as multi-row INSERTs of 500 (Prisma's createMany costs ~0.25 ms a row).
 */
export async function recordAuditEvents(
  db: RawRunner,
  provider: SqlProvider,
  events: readonly AuditEventInput[],
  at: Date,
  options?: AuditOptions,
): Promise<number> {
  let count = 0
  const list = EVENT_COLUMNS.map((c) => `"${snake(c)}"`).join(', ')
  for (let start = 0; start < events.length; start += 500) {
    const params: unknown[] = []
    const tuples = events.slice(start, start + 500).map((event) => {
      const row = auditRow(event, at, options)
      const slots = EVENT_COLUMNS.map((c) => {
        const v = row[c]
        params.push(JSON_COLUMNS.has(c) ? (v === undefined ? null : JSON.stringify(v)) : v)
        const slot = placeholder(provider, params.length)
        return provider === 'postgresql' && JSON_COLUMNS.has(c) ? `CAST(${slot} AS jsonb)` : slot
      })
      return `(${slots.join(', ')})`
    })
    count += await db.$executeRawUnsafe(`INSERT INTO "llm_audit_events" (${list}) VALUES ${tuples.join(', ')}`, ...params)
  }
  return count
}

/** Runs `fn` in a transaction of `client`, or directly when `client` already is one. */
export async function inTransaction<T>(client: LlmPrismaClient, fn: (tx: LlmPrismaClient) => Promise<T>): Promise<T> {
  if (typeof (client as Partial<LlmPrismaClient>).$transaction !== 'function') return fn(client)
  return (await client.$transaction(fn)) as T
}
