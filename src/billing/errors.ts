/** Billing's errors: an invoice that does not exist, and a change its status (or its month) does not allow. */
import { LlmTenantError } from '../foundation/errors.js'

export class InvoiceNotFoundError extends LlmTenantError {
  /** The id, or `tenantId/YYYY-MM` when looked up by tenant and month. */
  readonly invoice: string
  constructor(invoice: string) {
    super('INVOICE_NOT_FOUND', `No invoice "${invoice}"`)
    this.invoice = invoice
  }
}

/**
 * A change the invoice's status does not allow: a finalized invoice is immutable (correct it with
 * an adjustment line or a void + reissue), a void one takes no change at all, and a month that has
 * not ended cannot be finalized.
 */
export class InvoiceStateError extends LlmTenantError {
  readonly invoiceId: string
  readonly status: string
  /** What was attempted: 'finalize', 'void', 'adjust'. */
  readonly action: string
  constructor(invoiceId: string, status: string, action: string, reason: string) {
    super('INVOICE_STATE', `Cannot ${action} invoice "${invoiceId}" (${status}): ${reason}`)
    this.invoiceId = invoiceId
    this.status = status
    this.action = action
  }
}
