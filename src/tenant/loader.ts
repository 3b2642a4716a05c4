/**
 * Loading tenant rows for admission, and race-free get-or-create (INSERT … ON CONFLICT DO NOTHING,
 * then read): concurrent first uses of a tenant never create duplicates or fail.
 */
import { randomUUID } from 'node:crypto'
import { placeholder, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { LIMIT_COLUMNS, LIMIT_TYPES, type Enforcement, type LimitValues } from '../config/limits.js'
import { agentRateLimitsFromJson, rateLimitsFromJson, type AgentRateLimitValues, type RateLimitValues } from '../config/rate-limits.js'
import { tenantToColumns, toTenantRecord, type TenantInput } from './store.js'
import { bumpTenantVersion, tenantVersion } from './versions.js'
import { inTransaction, recordAuditEvent } from '../audit/record.js'
import type { AuditOptions } from '../audit/actor.js'

export type TenantRow = Record<string, unknown>

/** What a tenant row contributes (storage units). */
export interface TenantRowLimits {
  limits: LimitValues
  enforcement: Enforcement | null
  inheritGlobal: boolean
  maxConcurrent: bigint | null
  agentLimits: Record<string, { dailyCost: bigint | null; monthlyCost: bigint | null }>
  rateLimits: RateLimitValues
  agentRateLimits: AgentRateLimitValues
}

/**
 * A small TTL cache of tenant rows (admission reads the row, and its plan assignments, on every
 * call). Concurrent misses for
 * one tenant share a single load: a burst of calls for a tenant not yet cached (a runaway's first
 * 64 in flight, every tenant after a TTL expiry under load) would otherwise send one identical
 * query each, all of them ahead of every other tenant's work.
 */
export class TenantRowCache<T = TenantRow | null> {
  private readonly entries = new Map<string, { row: T; version: number; at: number }>()
  private readonly loading = new Map<string, { version: number; row: Promise<T> }>()
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async get(tenantId: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now()
    const version = tenantVersion(tenantId)
    const hit = this.entries.get(tenantId)
    if (this.ttlMs > 0 && hit && hit.version === version && now - hit.at < this.ttlMs) return hit.row
    if (this.ttlMs <= 0) return load()
    // A load started before a local write (older version) may return the old row: never share it.
    const pending = this.loading.get(tenantId)
    if (pending && pending.version === version) return pending.row
    const row = load()
    this.loading.set(tenantId, { version, row })
    try {
      const loaded = await row
      // A slower, older load must not replace what a load after a local write cached.
      if ((this.entries.get(tenantId)?.version ?? -1) > version) return loaded
      this.entries.delete(tenantId)
      this.entries.set(tenantId, { row: loaded, version, at: now })
      while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
      return loaded
    } finally {
      if (this.loading.get(tenantId)?.row === row) this.loading.delete(tenantId)
    }
  }
}

export async function findTenantRow(client: LlmPrismaClient, tenantId: string): Promise<TenantRow | null> {
  return (await client.llmTenant.findUnique({ where: { tenantId } })) as TenantRow | null
}

/**
 * Creates the tenant row unless it exists (no error, no duplicate under concurrency); returns the
 * row. A row it creates is audited (`tenant.created`) in the same transaction; of concurrent first
 * uses only the one whose INSERT created the row writes the event.
 */
export async function ensureTenantRow(client: LlmPrismaClient, provider: SqlProvider, input: TenantInput, now: Date, audit?: AuditOptions): Promise<TenantRow> {
  const existing = await findTenantRow(client, input.tenantId)
  if (existing) return existing
  const data = tenantToColumns(input)
  const columns: Record<string, unknown> = {
    id: randomUUID(),
    tenant_id: data.tenantId,
    name: data.name ?? null,
    tenant_record_type: data.tenantRecordType ?? null,
    tenant_record_id: data.tenantRecordId ?? null,
    enforcement: data.enforcement ?? null,
    inherit_global: data.inheritGlobal ?? true,
    active: data.active ?? true,
    created_at: now,
    updated_at: now,
  }
  for (const type of LIMIT_TYPES) {
    const field = LIMIT_COLUMNS[type]
    if (field in data) columns[field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = data[field]
  }
  const names = Object.keys(columns)
  const sql = `INSERT INTO "llm_tenants" (${names.map((n) => `"${n}"`).join(', ')})
    VALUES (${names.map((_, i) => placeholder(provider, i + 1)).join(', ')}) ON CONFLICT ("tenant_id") DO NOTHING`
  const row = await inTransaction(client, async (tx) => {
    const inserted = await tx.$executeRawUnsafe(sql, ...Object.values(columns))
    const created = await findTenantRow(tx, input.tenantId)
    if (!created) throw new Error(`tenant row ${input.tenantId} vanished after insert`)
    if (inserted === 1) {
      const { id: _id, createdAt: _c, updatedAt: _u, ...after } = toTenantRecord(created)
      await recordAuditEvent(tx, { action: 'tenant.created', tenantId: input.tenantId, targetType: 'tenant', targetId: input.tenantId, after }, now, audit)
    }
    return created
  })
  bumpTenantVersion(input.tenantId)
  return row
}

const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : typeof v === 'bigint' ? v : BigInt(String(v)))

/** The budget-relevant part of a tenant row, in storage units. */
export function rowLimits(row: TenantRow): TenantRowLimits {
  const limits = Object.fromEntries(LIMIT_TYPES.map((t) => [t, big(row[LIMIT_COLUMNS[t]])])) as TenantRowLimits['limits']
  const agentLimits: TenantRowLimits['agentLimits'] = {}
  const raw = row.agentLimits as Record<string, { dailyCost?: string | null; monthlyCost?: string | null }> | null
  for (const [agent, l] of Object.entries(raw ?? {})) {
    agentLimits[agent] = { dailyCost: big(l?.dailyCost ?? null), monthlyCost: big(l?.monthlyCost ?? null) }
  }
  return {
    limits,
    enforcement: (row.enforcement as Enforcement | null) ?? null,
    inheritGlobal: row.inheritGlobal !== false,
    maxConcurrent: big(row.maxConcurrent),
    agentLimits,
    rateLimits: rateLimitsFromJson(row.rateLimits),
    agentRateLimits: agentRateLimitsFromJson(row.agentRateLimits),
  }
}
