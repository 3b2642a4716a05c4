/**
 * Writing audit events. `recordAuditEvent(tx, …)` is called by every admin write of the library
 * with the transaction that makes the change, so the change and its event commit or roll back
 * together. Events record only the fields that changed (before and after), with credential-shaped
 * keys redacted and secrets (key hashes, raw keys) never passed in.
 */
import { randomUUID } from 'node:crypto'
import type { LlmPrismaClient } from '../db/client.js'
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

/** Writes one audit event with `db` (the change's transaction). Returns the event id. */
export async function recordAuditEvent(db: LlmPrismaClient, event: AuditEventInput, at: Date, options?: AuditOptions): Promise<string> {
  const actor = actorOf(options)
  const id = randomUUID()
  const metadata = { ...(event.metadata ?? {}), ...(options?.auditMetadata ?? {}) }
  await db.llmAuditEvent.create({
    data: {
      id,
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
    },
  })
  return id
}

/** Runs `fn` in a transaction of `client`, or directly when `client` already is one. */
export async function inTransaction<T>(client: LlmPrismaClient, fn: (tx: LlmPrismaClient) => Promise<T>): Promise<T> {
  if (typeof (client as Partial<LlmPrismaClient>).$transaction !== 'function') return fn(client)
  return (await client.$transaction(fn)) as T
}
