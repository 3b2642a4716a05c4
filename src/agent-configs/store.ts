/**
 * Tenants' agent configs and product types' agent templates, in the database. Every change is
 * validated before anything is written and audited in its own transaction ('agent_config.changed'
 * / '.deleted', 'agent_template.changed' / '.deleted', changed fields only). A config write bumps
 * the tenant's version, so this process's agent runs see it at once (other processes within
 * `tenantCacheTtlMs`, see cache.ts).
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider, placeholder, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { retryOnConflict } from '../db/unique-violation.js'
import { assertIdentifier } from '../foundation/validation.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { changedFields, inTransaction, recordAuditEvent } from '../audit/record.js'
import { TenantNotFoundError } from '../tenant/errors.js'
import { bumpTenantVersion } from '../tenant/versions.js'
import { AgentConfigNotFoundError, AgentTemplateNotFoundError } from './errors.js'
import {
  agentConfigToColumns,
  assertAgentName,
  assertProductType,
  auditedAgentConfig,
  toAgentConfigRecord,
  toAgentTemplateRecord,
  type AgentConfigInput,
  type AgentConfigRecord,
  type AgentTemplateInput,
  type AgentTemplateRecord,
} from './input.js'

type Row = Record<string, unknown>
const JSON_COLUMNS = { toolNames: 'tool_names', fallbackModels: 'fallback_models' } as const

/**
 * Prisma rejects a bare null for a Json column and the library never imports Prisma's runtime, so
 * a list set back to null ("the code's value") is taken out of `data` and cleared with raw SQL.
 */
function splitJsonNulls(data: Row): { data: Row; cleared: string[] } {
  const rest: Row = {}
  const cleared: string[] = []
  for (const [key, value] of Object.entries(data)) {
    if (value === null && key in JSON_COLUMNS) cleared.push(JSON_COLUMNS[key as keyof typeof JSON_COLUMNS])
    else rest[key] = value
  }
  return { data: rest, cleared }
}

async function clearColumns(tx: LlmPrismaClient, provider: SqlProvider, table: string, id: string, columns: string[]): Promise<void> {
  if (columns.length === 0) return
  await tx.$executeRawUnsafe(`UPDATE "${table}" SET ${columns.map((c) => `"${c}" = NULL`).join(', ')} WHERE "id" = ${placeholder(provider, 1)}`, id)
}

/**
 * Inserts a tenant's config inside the caller's transaction, unaudited (provisioning clones
 * templates this way and records them in its one 'tenant.provisioned' event). `columns` come from
 * agentConfigToColumns with `create: true`.
 */
export async function insertAgentConfig(tx: LlmPrismaClient, tenantId: string, agentName: string, columns: Row, now: Date): Promise<AgentConfigRecord> {
  const { data } = splitJsonNulls(columns) // on insert, an omitted Json column is NULL already
  const row = await tx.llmAgentConfig.create({ data: { id: randomUUID(), tenantId, agentName, createdAt: now, updatedAt: now, ...data } })
  return toAgentConfigRecord(row as Row)
}

/** Every config of a tenant, by agent name (one indexed read; what the runtime caches per tenant). */
export async function loadAgentConfigs(db: LlmPrismaClient, tenantId: string): Promise<AgentConfigRecord[]> {
  const rows = (await db.llmAgentConfig.findMany({ where: { tenantId }, orderBy: { agentName: 'asc' } })) as Row[]
  return rows.map(toAgentConfigRecord)
}

/** A product type's templates in the database, by agent name. */
export async function loadAgentTemplates(db: LlmPrismaClient, productType: string): Promise<AgentTemplateRecord[]> {
  const rows = (await db.llmAgentTemplate.findMany({ where: { productType }, orderBy: { agentName: 'asc' } })) as Row[]
  return rows.map(toAgentTemplateRecord)
}

/** Whether any column value given differs from the record's (a set that changes nothing writes nothing, not even an event). */
function differs(record: AgentConfigRecord | AgentTemplateRecord, columns: Row): boolean {
  const current = auditedAgentConfig(record)
  return Object.entries(columns).some(([key, value]) => canonical(current[key] ?? null) !== canonical(value ?? null))
}

/** JSON with object keys sorted: PostgreSQL's jsonb returns keys in its own order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  )
}

export class LlmAgentConfigs {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient
  private readonly provider: SqlProvider

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.provider = detectProvider(client)
    this.config = toConfig(config)
  }

  /**
   * Creates the tenant's config of an agent (provider and model required) or changes the fields
   * given (the others keep their value). Audited 'agent_config.changed' with the changed fields;
   * a call that changes nothing writes nothing. The tenant row must exist (TenantNotFoundError).
   */
  async setAgentConfig(tenantId: string, agentName: string, input: AgentConfigInput, audit?: AuditOptions): Promise<AgentConfigRecord> {
    const id = assertIdentifier(tenantId, 'tenantId')
    const name = assertAgentName(agentName)
    agentConfigToColumns(input, 'input', { create: false })
    assertAuditOptions(audit)
    const record = await retryOnConflict(() =>
      inTransaction(this.client, async (tx) => {
        const now = this.config.now()
        const existing = (await tx.llmAgentConfig.findUnique({ where: { tenantId_agentName: { tenantId: id, agentName: name } } })) as Row | null
        if (!existing) {
          const columns = agentConfigToColumns(input, 'input', { create: true })
          if (!(await tx.llmTenant.findUnique({ where: { tenantId: id } }))) throw new TenantNotFoundError(id)
          const created = await insertAgentConfig(tx, id, name, columns, now)
          await recordAuditEvent(
            tx,
            {
              action: 'agent_config.changed',
              tenantId: id,
              targetType: 'agent_config',
              targetId: name,
              after: auditedAgentConfig(created),
              metadata: { created: true },
            },
            now,
            audit,
          )
          return created
        }
        const before = toAgentConfigRecord(existing)
        const columns = agentConfigToColumns(input, 'input', { create: false })
        if (!differs(before, columns)) return before
        const { data, cleared } = splitJsonNulls(columns)
        await tx.llmAgentConfig.update({ where: { id: before.id }, data: { ...data, updatedAt: now } })
        await clearColumns(tx, this.provider, 'llm_agent_configs', before.id, cleared)
        const after = toAgentConfigRecord((await tx.llmAgentConfig.findUnique({ where: { id: before.id } })) as Row)
        const diff = changedFields(auditedAgentConfig(before), auditedAgentConfig(after))
        await recordAuditEvent(tx, { action: 'agent_config.changed', tenantId: id, targetType: 'agent_config', targetId: name, ...diff }, now, audit)
        return after
      }),
    )
    bumpTenantVersion(id)
    return record
  }

  /** The tenant's config of an agent, or null (the code-defined agent applies). */
  async getAgentConfig(tenantId: string, agentName: string): Promise<AgentConfigRecord | null> {
    const where = { tenantId_agentName: { tenantId: assertIdentifier(tenantId, 'tenantId'), agentName: assertAgentName(agentName) } }
    const row = (await this.client.llmAgentConfig.findUnique({ where })) as Row | null
    return row ? toAgentConfigRecord(row) : null
  }

  /** Every config of a tenant, by agent name. */
  listAgentConfigs(tenantId: string): Promise<AgentConfigRecord[]> {
    return loadAgentConfigs(this.client, assertIdentifier(tenantId, 'tenantId'))
  }

  /** Deletes the tenant's config of an agent (the code default applies again); audited 'agent_config.deleted'. */
  async deleteAgentConfig(tenantId: string, agentName: string, audit?: AuditOptions): Promise<AgentConfigRecord> {
    const id = assertIdentifier(tenantId, 'tenantId')
    const name = assertAgentName(agentName)
    assertAuditOptions(audit)
    const record = await inTransaction(this.client, async (tx) => {
      const row = (await tx.llmAgentConfig.findUnique({ where: { tenantId_agentName: { tenantId: id, agentName: name } } })) as Row | null
      if (!row) throw new AgentConfigNotFoundError(id, name)
      const before = toAgentConfigRecord(row)
      await tx.llmAgentConfig.deleteMany({ where: { id: before.id } })
      const now = this.config.now()
      await recordAuditEvent(
        tx,
        { action: 'agent_config.deleted', tenantId: id, targetType: 'agent_config', targetId: name, before: auditedAgentConfig(before) },
        now,
        audit,
      )
      return before
    })
    bumpTenantVersion(id)
    return record
  }

  /**
   * Creates a product type's template of an agent (provider and model required) or changes the
   * fields given. Provisioning clones a product type's templates into each new tenant's configs;
   * changing a template changes no existing tenant. Audited 'agent_template.changed'.
   */
  async defineAgentTemplate(productType: string, agentName: string, input: AgentTemplateInput, audit?: AuditOptions): Promise<AgentTemplateRecord> {
    const type = assertProductType(productType)
    const name = assertAgentName(agentName)
    agentConfigToColumns(input, 'input', { create: false, template: true })
    assertAuditOptions(audit)
    const target = { targetType: 'agent_template', targetId: `${type}/${name}` }
    return retryOnConflict(() =>
      inTransaction(this.client, async (tx) => {
        const now = this.config.now()
        const existing = (await tx.llmAgentTemplate.findUnique({ where: { productType_agentName: { productType: type, agentName: name } } })) as Row | null
        if (!existing) {
          const { data } = splitJsonNulls(agentConfigToColumns(input, 'input', { create: true, template: true }))
          const created = toAgentTemplateRecord(
            (await tx.llmAgentTemplate.create({ data: { id: randomUUID(), productType: type, agentName: name, createdAt: now, ...data } })) as Row,
          )
          await recordAuditEvent(
            tx,
            {
              action: 'agent_template.changed',
              ...target,
              after: auditedAgentConfig(created),
              metadata: { productType: type, agentName: name, created: true },
            },
            now,
            audit,
          )
          return created
        }
        const before = toAgentTemplateRecord(existing)
        const columns = agentConfigToColumns(input, 'input', { create: false, template: true })
        if (!differs(before, columns)) return before
        const { data, cleared } = splitJsonNulls(columns)
        if (Object.keys(data).length > 0) await tx.llmAgentTemplate.update({ where: { id: before.id }, data })
        await clearColumns(tx, this.provider, 'llm_agent_templates', before.id as string, cleared)
        const after = toAgentTemplateRecord((await tx.llmAgentTemplate.findUnique({ where: { id: before.id } })) as Row)
        const diff = changedFields(auditedAgentConfig(before), auditedAgentConfig(after))
        await recordAuditEvent(tx, { action: 'agent_template.changed', ...target, ...diff, metadata: { productType: type, agentName: name } }, now, audit)
        return after
      }),
    )
  }

  /** A product type's templates in the database, by agent name (code templates: LlmProvisioning#agentTemplates). */
  listAgentTemplates(productType: string): Promise<AgentTemplateRecord[]> {
    return loadAgentTemplates(this.client, assertProductType(productType))
  }

  /** Deletes a product type's template of an agent; tenants provisioned from it keep their configs. */
  async deleteAgentTemplate(productType: string, agentName: string, audit?: AuditOptions): Promise<AgentTemplateRecord> {
    const type = assertProductType(productType)
    const name = assertAgentName(agentName)
    assertAuditOptions(audit)
    return inTransaction(this.client, async (tx) => {
      const row = (await tx.llmAgentTemplate.findUnique({ where: { productType_agentName: { productType: type, agentName: name } } })) as Row | null
      if (!row) throw new AgentTemplateNotFoundError(type, name)
      const before = toAgentTemplateRecord(row)
      await tx.llmAgentTemplate.deleteMany({ where: { id: before.id } })
      await recordAuditEvent(
        tx,
        {
          action: 'agent_template.deleted',
          targetType: 'agent_template',
          targetId: `${type}/${name}`,
          before: auditedAgentConfig(before),
          metadata: { productType: type, agentName: name },
        },
        this.config.now(),
        audit,
      )
      return before
    })
  }
}

/** The agent-config store over the app's Prisma client. */
export function createAgentConfigs(client: unknown, config?: LlmConfig | LlmConfigInput): LlmAgentConfigs {
  return new LlmAgentConfigs(client, config)
}
