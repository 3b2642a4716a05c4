/** The tenant layer's errors: a tenant that does not exist, or one that is inactive. */
import { LlmTenantError } from '../foundation/errors.js'

export class TenantInactiveError extends LlmTenantError {
  readonly tenantId: string
  constructor(tenantId: string) {
    super('TENANT_INACTIVE', `Tenant "${tenantId}" is inactive; its LLM calls are refused`)
    this.tenantId = tenantId
  }
}

export class TenantNotFoundError extends LlmTenantError {
  readonly tenantId: string
  constructor(tenantId: string) {
    super('TENANT_NOT_FOUND', `No tenant "${tenantId}"`)
    this.tenantId = tenantId
  }
}
