/**
 * Provisioning a tenant in one transaction: its row, its plan, its agents cloned from its product
 * type's templates, its first API key, and one 'tenant.provisioned' audit event carrying the
 * caller's idempotency key. A failure at any step rolls every step back.
 *
 * Retries are safe (Stripe-style idempotency keys): the event's idempotency key is UNIQUE, so of
 * two runs with one key exactly one commits. A run that conflicts — the tenant row exists, or the
 * key is taken — reads the first run's event: same input (by hash) → the first result again,
 * `replayed: true`, the key's secret null (it is shown once); other input → IdempotencyConflictError;
 * no event for this key → the tenant was made otherwise: TenantExistsError. The first run's event is
 * read only on a conflict, so a first run costs no extra read.
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, type LlmPrismaClient } from '../db/client.js'
import { isUniqueViolation } from '../db/unique-violation.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { recordAuditEvent } from '../audit/record.js'
import { TenantNotFoundError } from '../tenant/errors.js'
import { tenantToColumns, toTenantRecord, type TenantInput, type TenantRecord } from '../tenant/store.js'
import { bumpTenantVersion } from '../tenant/versions.js'
import { assignPlan, findPlanRow } from '../plans/plans.js'
import { toAssignment, type PlanAssignment } from '../plans/plan-record.js'
import { issueApiKey, type LlmApiKeys } from '../keys/api-keys.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import type { AgentConfigRecord, AgentTemplateRecord, CodeAgentTemplate } from '../agent-configs/input.js'
import { insertAgentConfig, loadAgentConfigs, loadAgentTemplates } from '../agent-configs/store.js'
import { assertProductType } from '../agent-configs/input.js'
import { IdempotencyConflictError, TenantExistsError } from './errors.js'
import {
  assertNoReservedMetadata,
  mergeTemplates,
  parseCodeTemplates,
  parseProvisionInput,
  type ParsedProvisioning,
  type ProvisionTenantInput,
} from './input.js'

export interface ProvisioningOptions {
  /** The API key store the first key is issued by (its prefix and pepper). */
  keys: LlmApiKeys
  /** Agent templates in code, by product type; for an agent also templated in the database, the code template wins. */
  templates?: Record<string, CodeAgentTemplate[]>
  /** Tenant settings every provisioned tenant starts from (the llmTenant() extension passes its model's defaults); the input's win. */
  tenantDefaults?: (tenantId: string) => Omit<TenantInput, 'tenantId'>
  /** Interactive transaction limits, ms. Default { timeout: 30000, maxWait: 10000 } (Prisma's own 5 s / 2 s are tight for a burst of signups on SQLite's one writer). */
  transaction?: { timeout?: number; maxWait?: number }
}

export interface ProvisionedTenant {
  tenant: TenantRecord
  /** The plan assignment made; null without `plan`. */
  plan: PlanAssignment | null
  /** The tenant's agent configs (on a replay: as they are now). */
  agents: AgentConfigRecord[]
  /** The first API key; `secret` is the raw key on the first run only, null on a replay. */
  apiKey: { key: ApiKeyRecord; secret: string | null }
  /** true when this is a retry answered from the first run. */
  replayed: boolean
  /** The 'tenant.provisioned' audit event. */
  auditEventId: string
}

const OPTION_KEYS = ['keys', 'templates', 'tenantDefaults', 'transaction'] as const
type Row = Record<string, unknown>

function duration(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 600_000)
    throw new InvalidArgumentError(field, 'an integer from 1 to 600000 ms', value)
  return value
}

export class LlmProvisioning {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient
  private readonly keys: LlmApiKeys
  private readonly templates: Map<string, AgentTemplateRecord[]>
  private readonly tenantDefaults: ((tenantId: string) => Omit<TenantInput, 'tenantId'>) | undefined
  private readonly tx: { timeout: number; maxWait: number }

  constructor(client: unknown, config: LlmConfig | LlmConfigInput | undefined, options: ProvisioningOptions) {
    this.client = assertClient(client)
    if (typeof (client as Partial<LlmPrismaClient>).$transaction !== 'function') {
      throw new InvalidArgumentError('client', 'a Prisma client, not a transaction (provisioning runs its own)', client)
    }
    this.config = toConfig(config)
    assertQuery(options, OPTION_KEYS, 'options')
    if (typeof options.keys?.issuing !== 'function')
      throw new InvalidArgumentError('options.keys', 'an LlmApiKeys store (createApiKeys(prisma, …))', options.keys)
    if (options.tenantDefaults !== undefined && typeof options.tenantDefaults !== 'function') {
      throw new InvalidArgumentError('options.tenantDefaults', 'a function (tenantId) => tenant settings', options.tenantDefaults)
    }
    if (options.transaction !== undefined) assertQuery(options.transaction, ['timeout', 'maxWait'], 'options.transaction')
    this.keys = options.keys
    this.templates = parseCodeTemplates(options.templates)
    this.tenantDefaults = options.tenantDefaults
    this.tx = {
      timeout: duration(options.transaction?.timeout, 'options.transaction.timeout', 30_000),
      maxWait: duration(options.transaction?.maxWait, 'options.transaction.maxWait', 10_000),
    }
  }

  /** A product type's templates, code and database merged (code wins per agent), by agent name. */
  async agentTemplates(productType: string, db: LlmPrismaClient = this.client): Promise<AgentTemplateRecord[]> {
    const type = assertProductType(productType)
    return mergeTemplates(await loadAgentTemplates(db, type), this.templates.get(type) ?? [])
  }

  /**
   * Provisions a tenant (see the file comment). Throws PlanNotFoundError for an unknown plan,
   * InvalidArgumentError for a product type with no templates, TenantExistsError,
   * IdempotencyConflictError; nothing is written on any error.
   */
  async provisionTenant(input: ProvisionTenantInput, audit?: AuditOptions): Promise<ProvisionedTenant> {
    const p = parseProvisionInput(input)
    assertAuditOptions(audit)
    assertNoReservedMetadata(audit)
    // The tenant's columns, validated now (defaults first, the input's values over them).
    const defaults = this.tenantDefaults?.(p.tenantId) ?? {}
    const columns = tenantToColumns({
      ...defaults,
      tenantId: p.tenantId,
      name: p.name ?? defaults.name ?? null,
      limits: { ...(defaults.limits ?? {}), ...(p.limits ?? {}) },
      ...(p.metadata ? { metadata: p.metadata } : {}),
    })
    try {
      const result = (await this.client.$transaction((tx: LlmPrismaClient) => this.write(tx, p, columns, audit), this.tx)) as ProvisionedTenant
      bumpTenantVersion(p.tenantId)
      return result
    } catch (err) {
      if (!(err instanceof TenantExistsError) && !isUniqueViolation(err)) throw err
      // A conflict: the first run with this key (committed by now), or a tenant made otherwise.
      const first = (await this.client.llmAuditEvent.findUnique({ where: { idempotencyKey: p.idempotencyKey } })) as Row | null
      if (first) return this.replay(first, p)
      if (err instanceof TenantExistsError || (await this.client.llmTenant.findUnique({ where: { tenantId: p.tenantId } }))) {
        throw new TenantExistsError(p.tenantId)
      }
      throw err
    }
  }

  private async write(tx: LlmPrismaClient, p: ParsedProvisioning, columns: Row, audit: AuditOptions | undefined): Promise<ProvisionedTenant> {
    const now = this.config.now()
    if (await tx.llmTenant.findUnique({ where: { tenantId: p.tenantId } })) throw new TenantExistsError(p.tenantId)
    const planRow = p.plan === null ? null : await findPlanRow(tx, p.plan)
    const templates = p.productType === null ? [] : await this.agentTemplates(p.productType, tx)
    if (p.productType !== null && templates.length === 0) {
      const inCode = [...this.templates.keys()].join(', ') || 'none'
      throw new InvalidArgumentError(
        'input.productType',
        `a product type with agent templates (in code: ${inCode}; or defined with defineAgentTemplate)`,
        p.productType,
      )
    }

    const tenant = toTenantRecord((await tx.llmTenant.create({ data: { id: randomUUID(), ...columns, createdAt: now, updatedAt: now } })) as Row)
    const plan = planRow === null ? null : await assignPlan(tx, p.tenantId, planRow, { from: now, now }, false)
    const agents: AgentConfigRecord[] = []
    for (const t of templates) {
      const { provider, model, instructions, toolNames, maxOutputTokens, fallbackModels, enabled } = t
      agents.push(
        await insertAgentConfig(tx, p.tenantId, t.agentName, { provider, model, instructions, toolNames, maxOutputTokens, fallbackModels, enabled }, now),
      )
    }
    const issued = await issueApiKey(tx, p.tenantId, { name: p.apiKeyName }, { ...this.keys.issuing(), now }, false)

    const { id: _id, createdAt: _c, updatedAt: _u, ...tenantSettings } = tenant
    const auditEventId = await recordAuditEvent(
      tx,
      {
        action: 'tenant.provisioned',
        tenantId: p.tenantId,
        targetType: 'tenant',
        targetId: p.tenantId,
        // Never the secret: the key by its id, name and visible start ('issuedKey': a key named
        // 'apiKey' would be redacted as a credential).
        after: {
          tenant: tenantSettings,
          plan: plan ? { planKey: plan.planKey, planVersion: plan.planVersion } : null, // not 'key': redacted as a credential
          agents: agents.map((a) => a.agentName),
          issuedKey: { id: issued.key.id, name: issued.key.name, start: issued.key.start },
        },
        idempotencyKey: p.idempotencyKey,
        metadata: { inputHash: p.inputHash, issuedKeyId: issued.key.id, planAssignmentId: plan?.id ?? null, productType: p.productType },
      },
      now,
      audit,
    )
    return { tenant, plan, agents, apiKey: { key: issued.key, secret: issued.secret }, replayed: false, auditEventId }
  }

  /** The first run's result, read back (the secret cannot be: only its hash is stored). */
  private async replay(event: Row, p: ParsedProvisioning): Promise<ProvisionedTenant> {
    const meta = (event.metadata as Record<string, unknown> | null) ?? {}
    if (event.action !== 'tenant.provisioned' || meta.inputHash !== p.inputHash || event.tenantId !== p.tenantId) {
      throw new IdempotencyConflictError(p.idempotencyKey, (event.tenantId as string | null) ?? null)
    }
    const tenantRow = (await this.client.llmTenant.findUnique({ where: { tenantId: p.tenantId } })) as Row | null
    if (!tenantRow) throw new TenantNotFoundError(p.tenantId)
    const key = await this.keys.getApiKey(meta.issuedKeyId as string)
    const assignmentId = meta.planAssignmentId as string | null
    const assignment = assignmentId ? ((await this.client.llmTenantPlan.findUnique({ where: { id: assignmentId } })) as Row | null) : null
    return {
      tenant: toTenantRecord(tenantRow),
      plan: assignment ? toAssignment(assignment) : null,
      agents: await loadAgentConfigs(this.client, p.tenantId),
      apiKey: { key, secret: null },
      replayed: true,
      auditEventId: event.id as string,
    }
  }
}

/** Provisioning over the app's Prisma client. */
export function createProvisioning(client: unknown, config: LlmConfig | LlmConfigInput | undefined, options: ProvisioningOptions): LlmProvisioning {
  return new LlmProvisioning(client, config, options)
}
