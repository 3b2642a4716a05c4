/**
 * Billing from the exact ledger: `createBilling(prisma, config)`. Each tenant on a plan gets one
 * invoice per month of the config's time zone — the plan versions' base fees and allowances
 * prorated by the second, included usage and overage from the ledger rows of each version's time,
 * every line rounded half-up once to the currency's minor unit. Runs are idempotent (running a month
 * again writes nothing); a draft may be recomputed, a finalized invoice never is (a correction is an
 * adjustment line, or a void + reissue). Every change is audited in its own transaction; every
 * admin method takes the audit options as its optional last argument.
 */
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'
import { addAdjustment, finalizeInvoice, voidInvoice, type AdjustmentInput, type VoidInvoiceOptions } from './corrections.js'
import { resolveInvoiceMonth, type InvoicePeriodInput } from './month.js'
import { getInvoice, listInvoices, type InvoiceListQuery, type InvoicePage, type InvoiceRef } from './queries.js'
import type { InvoiceRecord } from './record.js'
import { parseTenantList, runInvoices, type GenerateInvoicesResult, type InvoiceRunProgress } from './run.js'

export interface GenerateInvoicesInput {
  /** The month: 'last_month' (before the current one in the config's zone) or { month: 'YYYY-MM' }. */
  period: InvoicePeriodInput
  /** Only these tenants (each must exist); omitted = every tenant with a plan in the month. */
  tenants?: string[]
  /** Finalize every invoice of the run once written (the month must have ended). Default false: drafts. */
  finalize?: boolean
  /** Tenants per batch (one read of the ledger and one transaction each). Default 500, 1 to 5,000. */
  batchSize?: number
  /** Called after each batch is written (a progress bar: `done` of `total`); a returned promise is awaited before the next batch. */
  onProgress?: (progress: InvoiceRunProgress) => unknown
}

const GENERATE_KEYS = ['period', 'tenants', 'finalize', 'batchSize', 'onProgress']
const VOID_KEYS = ['reason', 'reissue', 'carryAdjustments']

export class LlmBilling {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient
  private readonly provider: SqlProvider

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.provider = detectProvider(client)
    this.config = toConfig(config)
  }

  private get ctx() {
    return { client: this.client, provider: this.provider, config: this.config }
  }

  /**
   * Writes (or confirms) the month's invoice of every tenant with a plan in it, or of `tenants`.
   * Audited: `invoice.generated` per invoice created, `invoice.regenerated` per draft recomputed
   * differently, `invoice.finalized` per invoice finalized with `finalize: true`.
   */
  async generateInvoices(input: GenerateInvoicesInput, audit?: AuditOptions): Promise<GenerateInvoicesResult> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new InvalidArgumentError('input', `an object with any of: ${GENERATE_KEYS.join(', ')} (period is required)`, input)
    }
    assertQuery(input, GENERATE_KEYS, 'input')
    const month = resolveInvoiceMonth(input.period, this.config, 'period')
    const tenants = parseTenantList(input.tenants)
    const finalize = input.finalize ?? false
    if (typeof finalize !== 'boolean') throw new InvalidArgumentError('finalize', 'true or false', finalize)
    const batchSize = input.batchSize ?? 500
    if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
      throw new InvalidArgumentError('batchSize', 'an integer from 1 to 5000', batchSize)
    }
    if (input.onProgress !== undefined && typeof input.onProgress !== 'function') {
      throw new InvalidArgumentError('onProgress', 'a function called with { month, done, total, batch }', input.onProgress)
    }
    assertAuditOptions(audit)
    return runInvoices(this.ctx, month, { tenants, finalize, batchSize, onProgress: input.onProgress }, audit)
  }

  /** Finalizes a draft of a month that has ended (audited: `invoice.finalized`); a finalized one is returned unchanged. */
  async finalizeInvoice(id: string, audit?: AuditOptions): Promise<InvoiceRecord> {
    assertAuditOptions(audit)
    return finalizeInvoice(this.ctx, id, audit)
  }

  /**
   * Voids an invoice (audited: `invoice.voided`) and by default reissues the month at once: a new
   * draft, the next revision, recomputed from the ledger and plan history as they are now.
   */
  async voidInvoice(id: string, options: VoidInvoiceOptions = {}, audit?: AuditOptions): Promise<{ voided: InvoiceRecord; reissued: InvoiceRecord | null }> {
    assertQuery(options, VOID_KEYS, 'options')
    assertAuditOptions(audit)
    return voidInvoice(this.ctx, id, options, audit)
  }

  /**
   * Appends an adjustment line to a draft or finalized invoice (audited: `invoice.adjusted`): a
   * correction, or a credit when negative. The computed lines never change.
   */
  async addAdjustment(id: string, adjustment: AdjustmentInput, audit?: AuditOptions): Promise<InvoiceRecord> {
    assertAuditOptions(audit)
    return addAdjustment(this.ctx, id, adjustment, audit)
  }

  /** An invoice with its lines, by id or as a tenant's current invoice of a month (InvoiceNotFoundError if none). */
  getInvoice(ref: InvoiceRef): Promise<InvoiceRecord> {
    return getInvoice(this.client, ref)
  }

  /** A page of invoices (with their lines): month descending, then tenant id. */
  listInvoices(query: InvoiceListQuery = {}): Promise<InvoicePage> {
    return listInvoices(this.client, this.config, query)
  }
}

/** Creates the billing store over the app's Prisma client. */
export function createBilling(client: unknown, config?: LlmConfig | LlmConfigInput): LlmBilling {
  return new LlmBilling(client, config)
}
