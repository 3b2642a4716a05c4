/**
 * How a call names its tenant: an id string, a host record (a row of the app's tenant model, when
 * the llmTenant() extension is installed), or a `{ id, limits, enforcement }` runtime override
 * (no database lookup of limits). Plus the ambient tenant (`withTenant`, AsyncLocalStorage).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { InvalidArgumentError } from '../foundation/errors.js'
import { OVERRIDE_KEYS, parseOverride, REF_KEYS, TENANT_REF_ALLOWED, type ParsedOverride, type TenantRef } from '../config/overrides.js'
import { assertIdentifier } from '../foundation/validation.js'

export interface ResolvedTenant {
  tenantId: string
  /** Present for `{ id, limits, … }` objects: used instead of the database row's limits. */
  override?: ParsedOverride
  /** Present when the caller passed a host record. */
  hostRecord?: object
}

/**
 * Normalises what a call passed as its tenant. `hostIdOf` (from the extension) recognises host
 * records. Returns null for "no tenant".
 */
export function resolveTenantRef(ref: unknown, hostIdOf?: (record: object) => string | undefined, field = 'tenant'): ResolvedTenant | null {
  if (ref === null || ref === undefined) return null
  if (typeof ref === 'string') return { tenantId: assertIdentifier(ref, field) }
  if (typeof ref !== 'object' || Array.isArray(ref) || ref instanceof Date) throw new InvalidArgumentError(field, TENANT_REF_ALLOWED, ref)
  const keys = Object.keys(ref)
  const isRefObject = keys.every((k) => REF_KEYS.has(k)) && typeof (ref as { id?: unknown }).id === 'string'
  if (isRefObject) {
    const tenantId = assertIdentifier((ref as { id: string }).id, `${field}.id`)
    const hasOverride = OVERRIDE_KEYS.some((k) => k in ref)
    return hasOverride ? { tenantId, override: parseOverride(ref, field) } : { tenantId }
  }
  const hostId = hostIdOf?.(ref)
  if (typeof hostId === 'string' && hostId.length > 0) return { tenantId: assertIdentifier(hostId, `${field}.id`), hostRecord: ref }
  throw new InvalidArgumentError(field, TENANT_REF_ALLOWED, ref)
}

const ambient = new AsyncLocalStorage<{ tenant: TenantRef | null }>()

/** Runs `fn` with `tenant` as the ambient tenant of every call made inside it (unless a call names one). */
export function withTenant<T>(tenant: TenantRef | null, fn: () => T): T {
  return ambient.run({ tenant }, fn)
}

/** The ambient tenant set by the innermost `withTenant`, or `undefined` outside any. */
export function currentTenant(): TenantRef | null | undefined {
  return ambient.getStore()?.tenant
}

/** A tenant already resolved by the caller (the agent runtime resolves once per run). */
export class ResolvedTenantRef {
  constructor(readonly value: ResolvedTenant | null) {}
}
