/** Why the conversation store refused an append (or an agent run refused its session). */
import { LlmTenantError } from '../foundation/errors.js'

/**
 * An append would take the tenant's stored items past its storage quota (`storageBytes`, from its
 * plan or the store's options). Nothing of the append was written.
 */
export class SessionQuotaExceededError extends LlmTenantError {
  /** When an agent run's turn could not be stored: the run's result (the call itself was made). */
  result?: unknown
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    /** The tenant's quota in bytes. */
    readonly limitBytes: bigint,
    /** Bytes the tenant's items take now (before the append). */
    readonly usedBytes: bigint,
    /** Bytes the append would have added (after the retention it triggers). */
    readonly requestedBytes: bigint,
  ) {
    super(
      'SESSION_QUOTA_EXCEEDED',
      `Session storage quota of tenant "${tenantId}" exceeded: ${usedBytes} of ${limitBytes} bytes used, the append to session "${sessionId}" needs ${requestedBytes} more`,
    )
  }
}

/** `session` was given to an agent run that has no tenant: sessions always belong to the call's tenant. */
export class SessionTenantRequiredError extends LlmTenantError {
  constructor(readonly sessionId: string) {
    super(
      'SESSION_TENANT_REQUIRED',
      `Session "${sessionId}" needs a tenant: a session belongs to the tenant of the call (pass tenant, or run inside withTenant)`,
    )
  }
}
