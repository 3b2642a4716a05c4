// biome-ignore-all lint/suspicious/noExplicitAny: host records are of the app's own model, typed by the caller
/**
 * The host model: the app's own model that is declared an LLM tenant (e.g. `organization`). How a
 * host record maps to a tenant id, a display name, provider API keys and the `LlmTenant` row.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { PROVIDERS } from '../providers/types.js'
import { assertEnforcement, limitsToColumns, type LimitsInput, type Enforcement } from '../config/limits.js'
import type { TenantInput } from '../tenant/store.js'

type FieldOrFn<R, T> = string | ((record: R) => T)

export interface HostModelOptions<R = Record<string, unknown>> {
  /** The model's client key, e.g. 'organization'. */
  model: string
  /** Tenant id: a field name or (record) => string. Default: the `id` field. */
  id?: FieldOrFn<R, string>
  /** Display name: a field name or function. Default: the tenant id. */
  name?: FieldOrFn<R, string | null | undefined>
  /** Limits given to tenant rows created automatically (implies `budget: true`). */
  limits?: LimitsInput
  /** Enforcement for auto-created rows; omitted = inherit the global enforcement. */
  enforcement?: Enforcement
  inheritGlobal?: boolean
  /** Create the LlmTenant row with the host row (and on first use for older hosts). */
  budget?: boolean
  /** Provider keys: a field name or (record) => key (may be async). Blank values are dropped. */
  apiKeys?: Record<string, FieldOrFn<R, string | null | undefined | Promise<string | null | undefined>>>
}

export interface HostModel {
  /** PascalCase model name, e.g. 'Organization'. */
  modelName: string
  /** Scalar fields of the model (from Prisma's runtime data model). */
  fields: string[]
  /** The id field when the tenant id is a field (used to find a host record by tenant id). */
  idField?: string
  /** Fields a record must have for the tenant methods to work (Prisma result-extension `needs`). */
  needs: Record<string, true>
  tenantIdOf(record: Record<string, unknown>): string
  /** Like tenantIdOf, but undefined for objects that are not records of this model. */
  hostIdOf(record: object): string | undefined
  nameOf(record: Record<string, unknown>): string
  apiKeysOf(record: Record<string, unknown>): Promise<Record<string, string>>
  /** The LlmTenant row to create for a record (auto-create). */
  tenantInput(record: Record<string, unknown> | null, tenantId: string): TenantInput
  autoCreate: boolean
}

interface RuntimeModel {
  fields: Array<{ name: string; kind: string }>
}

function capitalize(s: string) {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

export function describeHostModel(client: unknown, options: HostModelOptions<any>): HostModel {
  const runtime = (client as { _runtimeDataModel?: { models: Record<string, RuntimeModel> } })._runtimeDataModel
  if (typeof options?.model !== 'string') throw new InvalidArgumentError('model', 'the client key of a model, e.g. "organization"', options?.model)
  const modelName = capitalize(options.model)
  const model = runtime?.models[modelName]
  if (!model) {
    const known = Object.keys(runtime?.models ?? {}).map((m) => m.charAt(0).toLowerCase() + m.slice(1))
    throw new InvalidArgumentError('model', `a model of this client: ${known.join(', ')}`, options.model)
  }
  const fields = model.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum').map((f) => f.name)
  const needs: Record<string, true> = {}
  const checkFieldOption = (value: unknown, option: string, allowed: string) => {
    if (value === undefined) return
    if (typeof value === 'string') {
      if (!fields.includes(value)) throw new InvalidArgumentError(option, `${allowed}: one of ${fields.join(', ')}, or a function`, value)
      needs[value] = true
    } else if (typeof value === 'function') {
      for (const f of fields) needs[f] = true // a function may read anything
    } else {
      throw new InvalidArgumentError(option, `${allowed} or a function`, value)
    }
  }
  // Validate the auto-create defaults now, not at the first call that needs them.
  if (options.limits !== undefined) limitsToColumns(options.limits, 'limits')
  if (options.enforcement !== undefined) assertEnforcement(options.enforcement, 'enforcement', false)
  if (options.inheritGlobal !== undefined && typeof options.inheritGlobal !== 'boolean') {
    throw new InvalidArgumentError('inheritGlobal', 'true or false', options.inheritGlobal)
  }
  if (options.budget !== undefined && typeof options.budget !== 'boolean') throw new InvalidArgumentError('budget', 'true or false', options.budget)
  const idOption = options.id ?? 'id'
  checkFieldOption(idOption, 'id', 'a field name')
  checkFieldOption(options.name, 'name', 'a field name')
  if (options.apiKeys !== undefined && (typeof options.apiKeys !== 'object' || options.apiKeys === null || Array.isArray(options.apiKeys))) {
    throw new InvalidArgumentError('apiKeys', `{ [provider]: field name or function } with provider one of ${PROVIDERS.join(', ')}`, options.apiKeys)
  }
  for (const [provider, source] of Object.entries(options.apiKeys ?? {})) {
    // A misspelt provider (`openAI`) would never be read: the call would fall back to the shared key.
    if (!(PROVIDERS as readonly string[]).includes(provider))
      throw new InvalidArgumentError(`apiKeys.${provider}`, `a provider: ${PROVIDERS.join(', ')}`, provider)
    checkFieldOption(source, `apiKeys.${provider}`, 'a field name')
  }
  if (fields.includes('id')) needs.id = true

  const read = (record: Record<string, unknown>, source: FieldOrFn<any, unknown>) => (typeof source === 'function' ? source(record) : record[source])
  const tenantIdOf = (record: Record<string, unknown>): string => {
    const value = read(record, idOption)
    if ((typeof value === 'string' && value.length > 0) || typeof value === 'number' || typeof value === 'bigint') return String(value)
    throw new InvalidArgumentError('id', `a non-empty tenant id from ${typeof idOption === 'string' ? `field "${idOption}"` : 'the id function'}`, value)
  }
  return {
    modelName,
    idField: typeof idOption === 'string' ? idOption : undefined,
    fields,
    needs,
    tenantIdOf,
    hostIdOf(record) {
      if (typeof idOption === 'string' && !(idOption in record)) return undefined
      try {
        return tenantIdOf(record as Record<string, unknown>)
      } catch {
        return undefined
      }
    },
    nameOf(record) {
      const value = options.name === undefined ? undefined : read(record, options.name)
      return typeof value === 'string' && value.length > 0 ? value : tenantIdOf(record)
    },
    async apiKeysOf(record) {
      const keys: Record<string, string> = {}
      for (const [provider, source] of Object.entries(options.apiKeys ?? {})) {
        const value = await read(record, source)
        if (typeof value === 'string' && value.trim() !== '') keys[provider] = value
      }
      return keys
    },
    tenantInput(record, tenantId) {
      const recordId = record && fields.includes('id') && record.id !== undefined ? String(record.id) : undefined
      return {
        tenantId,
        name: record ? this.nameOf(record) : tenantId,
        record: recordId ? { type: modelName, id: recordId } : null,
        limits: options.limits,
        enforcement: options.enforcement ?? null,
        inheritGlobal: options.inheritGlobal ?? true,
      }
    },
    autoCreate: options.budget ?? options.limits !== undefined,
  }
}
