/**
 * What a tenant's agent config (and a product type's agent template) is set with, its validation
 * (a typed InvalidArgumentError naming the field and what is allowed, before anything is written)
 * and its mapping to and from `llm_agent_configs` / `llm_agent_templates` rows.
 *
 * A config row is the tenant's version of an agent that code defines (`defineAgent`): provider and
 * model are always set; the other fields are null when the code's value applies.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { PROVIDERS, type ProviderName } from '../foundation/providers.js'
import { redactMetadata } from '../foundation/redact.js'
import { assertQuery, type JsonValue } from '../foundation/validation.js'

export interface AgentConfigInput {
  /** One of the supported providers ('openai', 'anthropic'). Required when the config is created. */
  provider?: ProviderName
  /** The model id (same provider). Required when the config is created. */
  model?: string
  /** The system instructions; null = the code-defined agent's. */
  instructions?: string | null
  /** The code-defined tools this tenant's agent may use, by name; null = all of them, [] = none. */
  toolNames?: string[] | null
  /** Cap on output tokens per provider call; null = the code-defined agent's. */
  maxOutputTokens?: number | null
  /** Tried in order when the model fails; null = the code-defined agent's, [] = none. */
  fallbackModels?: string[] | null
  /** false = the agent refuses to run for this tenant (AgentDisabledError, before any reservation). Default true. */
  enabled?: boolean
  /** Free-form JSON kept with the config (credential-shaped keys redacted); not on templates. */
  metadata?: Record<string, unknown> | null
}

/** A product type's template: an agent config without metadata. */
export type AgentTemplateInput = Omit<AgentConfigInput, 'metadata'>

/** A template given in code (`new LlmProvisioning(…, { templates: { [productType]: […] } })`). */
export interface CodeAgentTemplate extends AgentTemplateInput {
  agentName: string
}

export interface AgentConfigRecord {
  id: string
  tenantId: string
  agentName: string
  provider: ProviderName
  model: string
  instructions: string | null
  toolNames: string[] | null
  maxOutputTokens: number | null
  fallbackModels: string[] | null
  enabled: boolean
  metadata: JsonValue | null
  createdAt: Date
  updatedAt: Date
}

export interface AgentTemplateRecord {
  /** The row id; null for a template given in code. */
  id: string | null
  productType: string
  agentName: string
  provider: ProviderName
  model: string
  instructions: string | null
  toolNames: string[] | null
  maxOutputTokens: number | null
  fallbackModels: string[] | null
  enabled: boolean
  /** Where the template comes from: the database, or the code given to LlmProvisioning. */
  source: 'database' | 'code'
  createdAt: Date | null
}

const CONFIG_KEYS = ['provider', 'model', 'instructions', 'toolNames', 'maxOutputTokens', 'fallbackModels', 'enabled', 'metadata'] as const
const TEMPLATE_KEYS = CONFIG_KEYS.filter((k) => k !== 'metadata')
const NAME = /^[\w.:/-]{1,255}$/
const NAME_ALLOWED = 'a name of letters, digits, _ . : / - (1-255 characters)'
const MAX_INSTRUCTIONS = 100_000
const MAX_LIST = 64

/** An agent's name as defineAgent accepts it: the key a config is found by at run time. */
export function assertAgentName(value: unknown, field = 'agentName'): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw new InvalidArgumentError(field, NAME_ALLOWED, value)
  return value
}

/** A product type: what a tenant is provisioned as ('starter', 'support-desk', …). */
export function assertProductType(value: unknown, field = 'productType'): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9][\w.:-]{0,63}$/.test(value)) {
    throw new InvalidArgumentError(field, 'a product type of letters, digits, _ . : - (1-64 characters, e.g. "starter")', value)
  }
  return value
}

function names(value: unknown, field: string, what: string): string[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) throw new InvalidArgumentError(field, `an array of at most ${MAX_LIST} ${what}, or null`, value)
  const seen = new Set<string>()
  return value.map((v, i) => {
    if (typeof v !== 'string' || !NAME.test(v)) throw new InvalidArgumentError(`${field}[${i}]`, NAME_ALLOWED, v)
    if (seen.has(v)) throw new InvalidArgumentError(`${field}[${i}]`, `${what} listed once each`, v)
    seen.add(v)
    return v
  })
}

/**
 * Validates a config (or template) input and maps it to column values: only the fields given, with
 * `toolNames: null` / `fallbackModels: null` kept as null (the writer clears those JSON columns).
 * `create` requires provider and model.
 */
export function agentConfigToColumns(input: unknown, field: string, options: { create: boolean; template?: boolean }): Record<string, unknown> {
  const keys = options.template ? TEMPLATE_KEYS : CONFIG_KEYS
  assertQuery(input, keys, field)
  const i = input as AgentConfigInput
  const data: Record<string, unknown> = {}
  if (i.provider !== undefined || options.create) {
    if (!(PROVIDERS as readonly string[]).includes(i.provider as string)) throw new InvalidArgumentError(`${field}.provider`, PROVIDERS.join(', '), i.provider)
    data.provider = i.provider
  }
  if (i.model !== undefined || options.create) {
    if (typeof i.model !== 'string' || !NAME.test(i.model)) throw new InvalidArgumentError(`${field}.model`, `a model id: ${NAME_ALLOWED}`, i.model)
    data.model = i.model
  }
  if (i.instructions !== undefined) {
    if (i.instructions !== null && (typeof i.instructions !== 'string' || i.instructions.length > MAX_INSTRUCTIONS)) {
      throw new InvalidArgumentError(`${field}.instructions`, `a string of at most ${MAX_INSTRUCTIONS} characters, or null`, i.instructions)
    }
    data.instructions = i.instructions
  }
  if (i.toolNames !== undefined) data.toolNames = i.toolNames === null ? null : names(i.toolNames, `${field}.toolNames`, 'tool names')
  if (i.fallbackModels !== undefined) data.fallbackModels = i.fallbackModels === null ? null : names(i.fallbackModels, `${field}.fallbackModels`, 'model ids')
  if (i.maxOutputTokens !== undefined) {
    const v = i.maxOutputTokens
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000)) {
      throw new InvalidArgumentError(`${field}.maxOutputTokens`, 'an integer from 1 to 1000000, or null', v)
    }
    data.maxOutputTokens = v
  }
  if (i.enabled !== undefined) {
    if (typeof i.enabled !== 'boolean') throw new InvalidArgumentError(`${field}.enabled`, 'true or false', i.enabled)
    data.enabled = i.enabled
  }
  if (i.metadata !== undefined) {
    if (i.metadata !== null && (typeof i.metadata !== 'object' || Array.isArray(i.metadata))) {
      throw new InvalidArgumentError(`${field}.metadata`, 'a plain JSON object or null', i.metadata)
    }
    // {} rather than null: Prisma rejects a bare null for Json columns.
    data.metadata = i.metadata === null ? {} : redactMetadata(i.metadata)
  }
  return data
}

const list = (v: unknown): string[] | null => (Array.isArray(v) ? (v as string[]) : null)
const int = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

/** The agent settings a config and a template row share. */
function settingsOf(row: Record<string, unknown>) {
  return {
    id: row.id as string,
    agentName: row.agentName as string,
    provider: row.provider as ProviderName,
    model: row.model as string,
    instructions: (row.instructions as string | null) ?? null,
    toolNames: list(row.toolNames),
    maxOutputTokens: int(row.maxOutputTokens),
    fallbackModels: list(row.fallbackModels),
    enabled: row.enabled !== false,
  }
}

export function toAgentConfigRecord(row: Record<string, unknown>): AgentConfigRecord {
  return {
    ...settingsOf(row),
    tenantId: row.tenantId as string,
    metadata: (row.metadata as JsonValue | null) ?? null,
    createdAt: row.createdAt as Date,
    updatedAt: row.updatedAt as Date,
  }
}

export function toAgentTemplateRecord(row: Record<string, unknown>): AgentTemplateRecord {
  return {
    ...settingsOf(row),
    productType: row.productType as string,
    source: 'database',
    createdAt: row.createdAt as Date,
  }
}

/** The audited view of a config or template: its settings (ids and timestamps are the event's own). */
export function auditedAgentConfig(record: AgentConfigRecord | AgentTemplateRecord): Record<string, unknown> {
  const { provider, model, instructions, toolNames, maxOutputTokens, fallbackModels, enabled } = record
  const settings: Record<string, unknown> = { provider, model, instructions, toolNames, maxOutputTokens, fallbackModels, enabled }
  if ('metadata' in record) settings.metadata = record.metadata
  return settings
}
