/**
 * Provisioning's refusals: a tenant id that is taken (by a tenant not provisioned under this
 * idempotency key), and an idempotency key reused for a different request.
 */
import { LlmTenantError } from '../foundation/errors.js'

export class TenantExistsError extends LlmTenantError {
  readonly tenantId: string
  constructor(tenantId: string) {
    super('TENANT_EXISTS', `Tenant "${tenantId}" exists already (and was not provisioned with this idempotency key): provision a new tenant id`)
    this.tenantId = tenantId
  }
}

/**
 * The idempotency key was used before with different input. A retry must repeat its request
 * exactly; a new request needs a new key. The first request's tenant is named, never its input.
 */
export class IdempotencyConflictError extends LlmTenantError {
  readonly idempotencyKey: string
  /** The tenant the key provisioned first. */
  readonly tenantId: string | null
  constructor(idempotencyKey: string, tenantId: string | null) {
    super(
      'IDEMPOTENCY_CONFLICT',
      `Idempotency key "${idempotencyKey}" was used before with different input${tenantId ? ` (it provisioned tenant "${tenantId}")` : ''}: retry with the same input, or use a new key`,
    )
    this.idempotencyKey = idempotencyKey
    this.tenantId = tenantId
  }
}
