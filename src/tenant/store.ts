/**
 * The `llm_tenants` table: create, update and read tenant rows (limits, enforcement, activity).
 * The llmTenant() extension and the budget layer build on this; apps may use it directly.
 */
import { randomUUID } from 'node:crypto'
import { bumpTenantVersion } from './versions.js'
import { assertClient, type LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { redactMetadata } from '../foundation/redact.js'
import { nanosToUsd, type Decimal } from '../foundation/money.js'
import {
  agentRateLimitsFromJson,
  agentRateLimitsToJson,
  parseAgentRateLimits,
  parseRateLimits,
  rateLimitsAsNumbers,
  rateLimitsFromJson,
  rateLimitsToJson,
  type AgentRateLimitsInput,
  type RateLimitKey,
  type RateLimitsInput,
} from '../config/rate-limits.js'
import { assertEnforcement, limitsFromRow, limitsToColumns, type Enforcement, type Limits, type LimitsInput } from '../config/limits.js'
import { assertIdentifier, assertTenantId } from '../foundation/validation.js'
import type { JsonValue } from '../foundation/validation.js'
import { parseAgentLimits, parseMaxConcurrent, type AgentLimitsInput } from '../config/limits.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { changedFields, inTransaction, recordAuditEvent } from '../audit/record.js'
import { TenantNotFoundError } from './errors.js'
import { retryOnConflict } from '../db/unique-violation.js'

export interface TenantInput {
  tenantId: string
  name?: string | null
  /** The host record this tenant belongs to. */
  record?: { type: string; id: string | number | bigint } | null
  limits?: LimitsInput
  /** Most calls in flight at once; null = inherit. */
  maxConcurrent?: number | null
  /** Per-agent cost limits for this tenant: { [agentType]: { dailyCost?, monthlyCost? } }; null = inherit. */
  agentLimits?: AgentLimitsInput | null
  /**
   * The tenant's own rate limits (`{ requestsPerMinute, tokensPerDay, … }`); setting them replaces
   * the tenant's earlier ones, a key left out is inherited (plan, then global); null clears them all.
   */
  rateLimits?: RateLimitsInput | null
  /** Per-agent rate limits for this tenant: { [agentType]: { requestsPerMinute?, … } }; replaces, null clears. */
  agentRateLimits?: AgentRateLimitsInput | null
  /** null = inherit the global enforcement. */
  enforcement?: Enforcement | null
  inheritGlobal?: boolean
  active?: boolean
  metadata?: Record<string, unknown> | null
}

export interface TenantRecord {
  id: string
  tenantId: string
  name: string | null
  record: { type: string; id: string } | null
  limits: Limits
  maxConcurrent: number | null
  agentLimits: Record<string, { dailyCost: Decimal | null; monthlyCost: Decimal | null }>
  rateLimits: Partial<Record<RateLimitKey, number | null>>
  agentRateLimits: Record<string, Partial<Record<RateLimitKey, number | null>>>
  enforcement: Enforcement | null
  inheritGlobal: boolean
  active: boolean
  metadata: JsonValue | null
  createdAt: Date
  updatedAt: Date
}

const TENANT_KEYS = new Set([
  'tenantId',
  'name',
  'record',
  'limits',
  'maxConcurrent',
  'agentLimits',
  'rateLimits',
  'agentRateLimits',
  'enforcement',
  'inheritGlobal',
  'active',
  'metadata',
])

/** Validates a tenant input and maps it to column values (only the keys present). */
export function tenantToColumns(input: Partial<TenantInput>, field = 'tenant'): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(field, 'an object such as { tenantId, name, limits, enforcement }', input)
  }
  const data: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (!TENANT_KEYS.has(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of: ${[...TENANT_KEYS].join(', ')}`, key)
    if (value === undefined) continue
    switch (key) {
      case 'tenantId':
        data.tenantId = assertIdentifier(value, 'tenantId')
        break
      case 'name':
        if (value !== null && typeof value !== 'string') throw new InvalidArgumentError('name', 'a string or null', value)
        data.name = value
        break
      case 'record': {
        if (value === null) {
          data.tenantRecordType = null
          data.tenantRecordId = null
          break
        }
        const rec = value as { type?: unknown; id?: unknown }
        if (typeof rec !== 'object' || typeof rec.type !== 'string' || !['string', 'number', 'bigint'].includes(typeof rec.id)) {
          throw new InvalidArgumentError('record', '{ type: string, id: string | number } or null', value)
        }
        data.tenantRecordType = rec.type
        data.tenantRecordId = String(rec.id)
        break
      }
      case 'limits':
        Object.assign(data, limitsToColumns(value))
        break
      case 'enforcement':
        data.enforcement = assertEnforcement(value)
        break
      case 'maxConcurrent':
        data.maxConcurrent = parseMaxConcurrent(value, 'maxConcurrent')
        break
      case 'agentLimits': {
        if (value === null) {
          data.agentLimits = {} // Prisma rejects a bare null for Json columns; {} = no per-agent limits
          break
        }
        const parsed = parseAgentLimits(value, 'agentLimits')
        data.agentLimits = Object.fromEntries(
          Object.entries(parsed).map(([agent, l]) => [agent, { dailyCost: l.dailyCost?.toString() ?? null, monthlyCost: l.monthlyCost?.toString() ?? null }]),
        )
        break
      }
      case 'rateLimits':
        // {} rather than null: Prisma rejects a bare null for Json columns.
        data.rateLimits = value === null ? {} : rateLimitsToJson(parseRateLimits(value, 'rateLimits'))
        break
      case 'agentRateLimits':
        data.agentRateLimits = value === null ? {} : agentRateLimitsToJson(parseAgentRateLimits(value, 'agentRateLimits'))
        break
      case 'inheritGlobal':
      case 'active':
        if (typeof value !== 'boolean') throw new InvalidArgumentError(key, 'true or false', value)
        data[key] = value
        break
      case 'metadata':
        if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
          throw new InvalidArgumentError('metadata', 'a plain JSON object or null', value)
        }
        if (value !== null) data.metadata = redactMetadata(value)
        break
    }
  }
  return data
}

export function toTenantRecord(row: Record<string, unknown>): TenantRecord {
  return {
    id: row.id as string,
    tenantId: row.tenantId as string,
    name: (row.name as string | null) ?? null,
    record: row.tenantRecordType && row.tenantRecordId ? { type: row.tenantRecordType as string, id: row.tenantRecordId as string } : null,
    limits: limitsFromRow(row),
    maxConcurrent: row.maxConcurrent === null || row.maxConcurrent === undefined ? null : Number(row.maxConcurrent),
    agentLimits: Object.fromEntries(
      Object.entries((row.agentLimits as Record<string, { dailyCost: string | null; monthlyCost: string | null }> | null) ?? {}).map(([agent, l]) => [
        agent,
        { dailyCost: l.dailyCost === null ? null : nanosToUsd(l.dailyCost), monthlyCost: l.monthlyCost === null ? null : nanosToUsd(l.monthlyCost) },
      ]),
    ),
    rateLimits: rateLimitsAsNumbers(rateLimitsFromJson(row.rateLimits)),
    agentRateLimits: Object.fromEntries(Object.entries(agentRateLimitsFromJson(row.agentRateLimits)).map(([a, v]) => [a, rateLimitsAsNumbers(v)])),
    enforcement: (row.enforcement as Enforcement | null) ?? null,
    inheritGlobal: row.inheritGlobal as boolean,
    active: row.active as boolean,
    metadata: (row.metadata as JsonValue | null) ?? null,
    createdAt: row.createdAt as Date,
    updatedAt: row.updatedAt as Date,
  }
}

/** Fields whose change is a `tenant.limits.changed` event (what a tenant's calls are admitted by). */
const LIMIT_FIELDS = ['limits', 'maxConcurrent', 'agentLimits', 'rateLimits', 'agentRateLimits', 'enforcement', 'inheritGlobal'] as const

/** The audit action of a change from `before` to `after` (one event per admin write). */
function tenantChangeAction(changed: Record<string, unknown> | null): 'tenant.activated' | 'tenant.deactivated' | 'tenant.limits.changed' | 'tenant.updated' {
  if (changed && 'active' in changed) return changed.active ? 'tenant.activated' : 'tenant.deactivated'
  if (changed && LIMIT_FIELDS.some((f) => f in changed)) return 'tenant.limits.changed'
  return 'tenant.updated'
}

/** The audited fields of a tenant record (ids and timestamps are the event's own). */
const auditedOf = ({ id: _id, createdAt: _c, updatedAt: _u, ...rest }: TenantRecord): Record<string, unknown> => rest

export class TenantStore {
  private readonly client: LlmPrismaClient
  private readonly now: () => Date

  constructor(client: unknown, options: { now?: () => Date } = {}) {
    this.client = assertClient(client)
    this.now = options.now ?? (() => new Date())
  }

  async find(tenantId: string): Promise<TenantRecord | null> {
    const id = assertTenantId(tenantId)
    if (id === null) throw new InvalidArgumentError('tenantId', 'a non-empty string', tenantId)
    const row = (await this.client.llmTenant.findUnique({ where: { tenantId: id } })) as Record<string, unknown> | null
    return row ? toTenantRecord(row) : null
  }

  /**
   * Creates the tenant or updates the given fields of an existing one (validated first), with its
   * audit event (`tenant.created`, or the change's action) in the same transaction.
   */
  async upsert(input: TenantInput, audit?: AuditOptions): Promise<TenantRecord> {
    const data = tenantToColumns(input)
    if (typeof data.tenantId !== 'string') throw new InvalidArgumentError('tenantId', 'a non-empty string', input?.tenantId)
    assertAuditOptions(audit)
    const { tenantId, ...changes } = data
    const attempt = () =>
      inTransaction(this.client, async (tx) => {
        const existing = (await tx.llmTenant.findUnique({ where: { tenantId } })) as Record<string, unknown> | null
        if (existing) return this.write(tx, existing, changes, audit)
        const row = toTenantRecord((await tx.llmTenant.create({ data: { id: randomUUID(), ...data } })) as Record<string, unknown>)
        await recordAuditEvent(
          tx,
          { action: 'tenant.created', tenantId: row.tenantId, targetType: 'tenant', targetId: row.tenantId, after: auditedOf(row) },
          this.now(),
          audit,
        )
        return row
      })
    // Two first upserts of one tenant race to create it: the loser's transaction rolled back on the
    // unique violation, and its retry finds the row and updates it.
    const record = await retryOnConflict(attempt)
    bumpTenantVersion(tenantId as string)
    return record
  }

  /** Updates fields of an existing tenant (`tenantId` cannot change), audited in the same transaction. */
  async update(tenantId: string, changes: Omit<Partial<TenantInput>, 'tenantId'>, audit?: AuditOptions): Promise<TenantRecord> {
    const id = assertIdentifier(tenantId, 'tenantId')
    const data = tenantToColumns(changes, 'changes')
    if ('tenantId' in data) throw new InvalidArgumentError('changes.tenantId', 'omitted (a tenant id cannot change)', data.tenantId)
    assertAuditOptions(audit)
    const record = await inTransaction(this.client, async (tx) => {
      const existing = (await tx.llmTenant.findUnique({ where: { tenantId: id } })) as Record<string, unknown> | null
      if (!existing) throw new TenantNotFoundError(id)
      return this.write(tx, existing, data, audit)
    })
    bumpTenantVersion(id)
    return record
  }

  private async write(tx: LlmPrismaClient, existing: Record<string, unknown>, data: Record<string, unknown>, audit?: AuditOptions): Promise<TenantRecord> {
    const before = toTenantRecord(existing)
    const row = toTenantRecord((await tx.llmTenant.update({ where: { tenantId: before.tenantId }, data })) as Record<string, unknown>)
    const diff = changedFields(auditedOf(before), auditedOf(row))
    await recordAuditEvent(
      tx,
      { action: tenantChangeAction(diff.after), tenantId: row.tenantId, targetType: 'tenant', targetId: row.tenantId, ...diff },
      this.now(),
      audit,
    )
    return row
  }
}
