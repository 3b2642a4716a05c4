/**
 * The slice of a Prisma client the library uses. Any client generated from a schema that includes
 * `llm-tenant.prisma` (plain or `$extends`-ed) satisfies it; the library never imports a generated
 * client of its own, so it works with the app's.
 */
import { InvalidArgumentError } from '../foundation/errors.js'

// biome-ignore lint/suspicious/noExplicitAny: any generated client's argument types must be accepted
type AnyArgs = any
type Method = (args: AnyArgs) => PromiseLike<unknown>

interface ModelDelegate {
  create: Method
  createMany: Method
  findFirst: Method
  findUnique: Method
  findMany: Method
  update: Method
  updateMany: Method
  upsert: Method
  deleteMany: Method
  count: Method
  aggregate: Method
  groupBy: Method
}

export interface LlmPrismaClient {
  llmExecution: ModelDelegate
  llmTenant: ModelDelegate
  llmPlan: ModelDelegate
  llmTenantPlan: ModelDelegate
  llmApiKey: ModelDelegate
  llmAgentConfig: ModelDelegate
  llmAgentTemplate: ModelDelegate
  llmAuditEvent: ModelDelegate
  llmInvoice: ModelDelegate
  llmInvoiceLine: ModelDelegate
  llmSession: ModelDelegate
  llmSessionItem: ModelDelegate
  $queryRawUnsafe(query: string, ...values: AnyArgs[]): PromiseLike<unknown>
  $executeRawUnsafe(query: string, ...values: AnyArgs[]): PromiseLike<number>
  $transaction(arg: AnyArgs, options?: AnyArgs): Promise<AnyArgs>
}

const SUPPORTED_PROVIDERS = ['sqlite', 'postgresql'] as const
export type SqlProvider = (typeof SUPPORTED_PROVIDERS)[number]

/** The client's database provider, read from the client (works through `$extends`). */
export function detectProvider(client: unknown): SqlProvider {
  const c = client as { _activeProvider?: unknown; _engineConfig?: { activeProvider?: unknown } }
  const provider = c?._activeProvider ?? c?._engineConfig?.activeProvider
  if (provider === 'postgres') return 'postgresql'
  if (provider === 'sqlite' || provider === 'postgresql') return provider
  throw new InvalidArgumentError('client', `a Prisma client for ${SUPPORTED_PROVIDERS.join(' or ')}`, provider)
}

export function assertClient(client: unknown): LlmPrismaClient {
  const c = client as Partial<LlmPrismaClient> | null
  if (!c || typeof c !== 'object' || !c.llmExecution || !c.llmTenant || typeof c.$queryRawUnsafe !== 'function') {
    throw new InvalidArgumentError('client', 'a Prisma client generated from a schema that includes prisma-llm-tenant/prisma/llm-tenant.prisma', client)
  }
  // A client generated from the 0.1 fragment lacks the plan models: say so now, not at the first call.
  if (
    !c.llmPlan ||
    !c.llmTenantPlan ||
    !c.llmApiKey ||
    !c.llmAgentConfig ||
    !c.llmAgentTemplate ||
    !c.llmAuditEvent ||
    !c.llmInvoice ||
    !c.llmInvoiceLine ||
    !c.llmSession ||
    !c.llmSessionItem
  ) {
    throw new InvalidArgumentError(
      'client',
      'a Prisma client generated from the current llm-tenant.prisma (it declares LlmPlan, LlmTenantPlan, LlmApiKey, LlmAgentConfig, LlmAgentTemplate, LlmAuditEvent, LlmInvoice, LlmInvoiceLine, LlmSession and LlmSessionItem: regenerate)',
      client,
    )
  }
  return c as LlmPrismaClient
}

/** Positional parameter placeholder for raw SQL (`$1` on PostgreSQL, `?` on SQLite). */
export function placeholder(provider: SqlProvider, index: number): string {
  return provider === 'postgresql' ? `$${index}` : '?'
}

/** Raw SQL through a Prisma client or an interactive transaction's `tx`. */
export interface RawRunner {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>
}

/** A client that runs interactive transactions. */
export interface TransactionRunner {
  $transaction(fn: (tx: RawRunner) => Promise<unknown>, options?: { maxWait?: number; timeout?: number }): Promise<unknown>
}

/** Builds a statement's bound values, handing out each one's placeholder (`$n` / `?`) in order. */
export class Params {
  readonly values: unknown[] = []
  constructor(private readonly provider: SqlProvider) {}
  add(value: unknown): string {
    this.values.push(value)
    return placeholder(this.provider, this.values.length)
  }
}
