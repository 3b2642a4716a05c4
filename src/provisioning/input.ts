/**
 * What provisioning takes, validated before anything is written, and its normal form: the form a
 * retry is compared by. Two requests are "the same" when their normal forms are equal (limits as
 * storage units, defaults filled in, key order ignored), so `{ dailyCost: '1.50' }` and
 * `{ dailyCost: 1.5 }` are one request and a retry may spell it either way. Only the SHA-256 of the
 * normal form is stored (in the 'tenant.provisioned' event's metadata), never the input itself.
 *
 * Templates given in code are validated here too, when LlmProvisioning is constructed.
 */
import { createHash } from 'node:crypto'
import { limitsToColumns, type LimitsInput } from '../config/limits.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { redactMetadata } from '../foundation/redact.js'
import { assertIdentifier, assertQuery } from '../foundation/validation.js'
import { agentConfigToColumns, assertAgentName, assertProductType, type AgentTemplateRecord, type CodeAgentTemplate } from '../agent-configs/input.js'
import type { AuditOptions } from '../audit/actor.js'
import { assertPlanKey } from '../plans/plan-input.js'

export interface ProvisionTenantInput {
  /** The new tenant's id (a tenant that exists already is TenantExistsError). */
  tenantId: string
  /**
   * The caller's key for this request (1–255 characters; e.g. the signup's id): a retry with the
   * same key and the same input returns the first result with `replayed: true`.
   */
  idempotencyKey: string
  name?: string | null
  /** The plan key to put the tenant on (its latest version); omitted = no plan. */
  plan?: string | null
  /** The product type whose agent templates become the tenant's agent configs; omitted = none. */
  productType?: string | null
  /** The name of the tenant's first API key. Default 'default'. */
  apiKeyName?: string
  /** The tenant's own budget limits. */
  limits?: LimitsInput
  /** Free-form JSON on the tenant row (credential-shaped keys redacted). */
  metadata?: Record<string, unknown> | null
}

/** The validated request: its normal form, that form's hash, and the values the writes use. */
export interface ParsedProvisioning {
  tenantId: string
  idempotencyKey: string
  name: string | null
  plan: string | null
  productType: string | null
  apiKeyName: string
  limits: LimitsInput | undefined
  metadata: Record<string, unknown> | null
  inputHash: string
}

const INPUT_KEYS = ['tenantId', 'idempotencyKey', 'name', 'plan', 'productType', 'apiKeyName', 'limits', 'metadata'] as const
/** Keys of the event's metadata that replays read: an app's auditMetadata may not shadow them. */
const RESERVED_METADATA = ['inputHash', 'issuedKeyId', 'planAssignmentId', 'productType'] as const

/** JSON with object keys sorted and bigints as strings: the same value always hashes the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString()
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    return v
  })
}

export function parseProvisionInput(input: unknown): ParsedProvisioning {
  assertQuery(input, INPUT_KEYS, 'input')
  const i = input as ProvisionTenantInput
  const tenantId = assertIdentifier(i.tenantId, 'input.tenantId')
  const idempotencyKey = assertIdentifier(i.idempotencyKey, 'input.idempotencyKey', 255)
  if (i.name !== undefined && i.name !== null && (typeof i.name !== 'string' || i.name.length > 255)) {
    throw new InvalidArgumentError('input.name', 'a string of at most 255 characters, or null', i.name)
  }
  const plan = i.plan === undefined || i.plan === null ? null : assertPlanKey(i.plan, 'input.plan')
  const productType = i.productType === undefined || i.productType === null ? null : assertProductType(i.productType, 'input.productType')
  const apiKeyName = i.apiKeyName === undefined ? 'default' : assertIdentifier(i.apiKeyName, 'input.apiKeyName', 100)
  const limitColumns = i.limits === undefined ? {} : limitsToColumns(i.limits, 'input.limits')
  if (i.metadata !== undefined && i.metadata !== null && (typeof i.metadata !== 'object' || Array.isArray(i.metadata))) {
    throw new InvalidArgumentError('input.metadata', 'a plain JSON object or null', i.metadata)
  }
  const metadata = i.metadata ? (redactMetadata(i.metadata) as Record<string, unknown>) : null
  const name = i.name ?? null
  const normal = { tenantId, name, plan, productType, apiKeyName, limits: limitColumns, metadata }
  return {
    tenantId,
    idempotencyKey,
    name,
    plan,
    productType,
    apiKeyName,
    limits: i.limits,
    metadata,
    inputHash: createHash('sha256').update(canonical(normal)).digest('hex'),
  }
}

/** Refuses audit metadata that would shadow the keys a replay reads from the event. */
export function assertNoReservedMetadata(audit: AuditOptions | undefined): void {
  for (const key of RESERVED_METADATA) {
    if (audit?.auditMetadata && key in audit.auditMetadata) {
      throw new InvalidArgumentError(`audit.auditMetadata.${key}`, `omitted (${RESERVED_METADATA.join(', ')} are provisioning's own)`, key)
    }
  }
}

/** Validates code templates (`{ [productType]: [{ agentName, provider, model, … }] }`) into template records. */
export function parseCodeTemplates(templates: unknown, field = 'options.templates'): Map<string, AgentTemplateRecord[]> {
  const out = new Map<string, AgentTemplateRecord[]>()
  if (templates === undefined) return out
  if (typeof templates !== 'object' || templates === null || Array.isArray(templates)) {
    throw new InvalidArgumentError(field, '{ [productType]: [{ agentName, provider, model, … }] }', templates)
  }
  for (const [productType, list] of Object.entries(templates)) {
    assertProductType(productType, `${field}.${productType}`)
    if (!Array.isArray(list)) throw new InvalidArgumentError(`${field}.${productType}`, 'an array of { agentName, provider, model, … }', list)
    const seen = new Set<string>()
    out.set(
      productType,
      (list as CodeAgentTemplate[]).map((t, i) => {
        const f = `${field}.${productType}[${i}]`
        if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new InvalidArgumentError(f, '{ agentName, provider, model, … }', t)
        const { agentName, ...settings } = t
        const name = assertAgentName(agentName, `${f}.agentName`)
        if (seen.has(name)) throw new InvalidArgumentError(`${f}.agentName`, `agent names listed once each per product type`, name)
        seen.add(name)
        const c = agentConfigToColumns(settings, f, { create: true, template: true })
        return {
          id: null,
          productType,
          agentName: name,
          provider: c.provider as AgentTemplateRecord['provider'],
          model: c.model as string,
          instructions: (c.instructions as string | null | undefined) ?? null,
          toolNames: (c.toolNames as string[] | null | undefined) ?? null,
          maxOutputTokens: (c.maxOutputTokens as number | null | undefined) ?? null,
          fallbackModels: (c.fallbackModels as string[] | null | undefined) ?? null,
          enabled: (c.enabled as boolean | undefined) ?? true,
          source: 'code' as const,
          createdAt: null,
        }
      }),
    )
  }
  return out
}

/**
 * A product type's templates: those in the database and those in code, by agent name. For an
 * agent in both, the code template wins, whole (no field-by-field merge: the result would be a
 * template nobody wrote). Code is reviewed and deployed with the agents it configures; templates
 * an operator adds at runtime (defineAgentTemplate) extend it but cannot silently override it.
 */
export function mergeTemplates(fromDatabase: readonly AgentTemplateRecord[], fromCode: readonly AgentTemplateRecord[]): AgentTemplateRecord[] {
  const byName = new Map<string, AgentTemplateRecord>()
  for (const t of fromDatabase) byName.set(t.agentName, t)
  for (const t of fromCode) byName.set(t.agentName, t)
  return [...byName.values()].sort((a, b) => (a.agentName < b.agentName ? -1 : a.agentName > b.agentName ? 1 : 0))
}
