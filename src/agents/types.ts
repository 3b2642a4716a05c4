/**
 * The shapes of an agent run, shared by the runtime (runtime.ts) and streaming (stream.ts): what a
 * run takes and returns, and what a prepared run carries from one attempt to the next.
 */
import type { Span } from '@opentelemetry/api'
import type { TenantRef } from '../config/overrides.js'
import type { Decimal } from '../foundation/money.js'
import type { NormalizedUsage } from '../pricing/price.js'
import type { ChatMessage, ProviderName } from '../providers/types.js'
import type { ResolvedTenant, ResolvedTenantRef } from '../tenant/ref.js'
import type { AgentDefinition } from './define.js'
import type { AttemptInfo } from './errors.js'
import type { RunSession } from './session-turns.js'

export type AgentInput = string | ChatMessage[]

export interface RunOptions {
  /** Tenant id, host record, `{ id, limits }`, null (none); omitted = withTenant()/resolver. */
  tenant?: TenantRef | null
  /** Keys for this call, used when the tenant has none. */
  apiKeys?: Partial<Record<ProviderName, string>>
  signal?: AbortSignal
  traceId?: string
  parentId?: string
  /**
   * The tenant API key the run is made with (`verifyApiKey(raw).key.id`): every ledger row of the
   * run records it, and the key's own limits apply besides the tenant's.
   */
  apiKeyId?: string
  /**
   * A conversation of the call's tenant (docs/sessions.md): its history goes before `input`, and
   * after a successful call the turn is appended to it (`runtime.sessions`). The tenant is the
   * call's, never taken from the id; a run without a tenant is refused.
   */
  session?: string
  /**
   * JSON recorded on every ledger row of the run (refusals too) beside the library's own keys
   * (`step`, `attempt`, …, which win): e.g. the HTTP request id. Credential-shaped keys redacted.
   */
  metadata?: Record<string, unknown>
}

export interface AgentUsage extends NormalizedUsage {}

export interface AgentResult {
  text: string
  /** The model that produced the final answer. */
  model: string
  usage: AgentUsage
  /** Exact cost of every attempt of the run (failed attempts included), as Decimal dollars. */
  cost: Decimal
  /** The ledger row of the final answer. */
  executionId: string
  traceId: string
  steps: number
  attempts: AttemptInfo[]
  messages: ChatMessage[]
}

export interface Agent {
  readonly definition: AgentDefinition
  run(input: AgentInput, options?: RunOptions): Promise<AgentResult>
  stream(input: AgentInput, options?: RunOptions): AgentStream
}

export interface AgentStream extends AsyncIterable<string> {
  /** Resolves when the call has settled; rejects with the run's error. */
  readonly result: Promise<AgentResult>
  /** Stops the stream (same as breaking out of the loop). */
  abort(): void
}

/** A prepared run: its messages, tenant, trace, the key chosen and the SDK client for it. */
export interface RunSetup {
  /** The definition the run uses: the code's, or the tenant's version of it (its agent config). */
  definition: AgentDefinition
  messages: ChatMessage[]
  resolved: ResolvedTenant | null
  tenant: ResolvedTenantRef
  traceId: string
  /** The provider key chosen for the run. */
  apiKey: string
  /** The tenant API key the run is attributed to (RunOptions.apiKeyId). */
  tenantApiKeyId: string | null
  /** RunOptions.metadata, validated and redacted. */
  runMetadata: Record<string, unknown>
  sdk: unknown
  /** The run's session (RunOptions.session), or null. */
  session: RunSession | null
  /** The run's `invoke_agent` span: its attempts' spans are its children. */
  span: Span
}
