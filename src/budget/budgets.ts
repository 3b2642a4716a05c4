/**
 * LlmBudgets: the one admission pipeline every LLM call goes through —
 *   tenant (tenant.ts: resolve, load, active) → policy (policy.ts: effective limits)
 *   → reserve (reserve.ts: the hold, or a refusal recorded by refusals.ts) → call (call.ts: your
 *   function, reportUsage) → settle (settle-call.ts, settle.ts: exactly once).
 * Each step lives in its own module; this file only sequences them and applies the fail mode. The
 * hot path's performance machinery (batching, caches, backoff, pending settles) is in perf/.
 */
import { randomUUID } from 'node:crypto'
import type { Span } from '@opentelemetry/api'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { emitBudgetEvent } from '../config/events.js'
import type { BudgetLimitType } from '../config/limits.js'
import type { TenantRef } from '../config/overrides.js'
import { assertClient, detectProvider, type LlmPrismaClient, type RawRunner, type SqlProvider, type TransactionRunner } from '../db/client.js'
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'
import { redactText } from '../foundation/redact.js'
import { assertIdentifier, assertQuery } from '../foundation/validation.js'
import { readCounters } from '../ledger/counters/statements.js'
import { toExecutionRow, type ExecutionOutcome } from '../ledger/record.js'
import type { ResolvedTenant } from '../tenant/ref.js'
import {
  normalizeUsage,
  statusOfError,
  validateCall,
  yieldToEventLoop,
  type CallContext,
  type NormalizedUsage,
  type TrackCall,
  type ValidatedCall,
} from './call.js'
import { AdmissionError, BudgetExceededError, RateLimitExceededError, TenantInactiveError } from './errors.js'
import { expireHolds } from './expiry.js'
import { LocalInFlight } from './perf/in-flight.js'
import { PendingSettles } from './perf/pending-settles.js'
import { holdBack, RefusalBackoff } from './perf/refusal-backoff.js'
import { SpentCache } from './perf/spent-cache.js'
import { refreshCounters, type RefreshResult } from './refresh.js'
import { recordRefusal, refusalInfo, type RefusedCall } from './refusals.js'
import { errorFields, logTo } from '../telemetry/options.js'
import { traceIdOf, type AttemptSpans } from '../telemetry/telemetry.js'
import { rateRefusalError, refusalError, reserve, type Reservation } from './reserve.js'
import { toNs } from '../rate-limits/gcra.js'
import { pruneRateRows, rateDeltas, type RateDelta } from '../rate-limits/statements.js'
import { rateClockNs, rateWindowStatus, type RateWindowStatus } from './rate-status.js'
import { callOutcome, figureText, settleCall, type SettleContext } from './settle-call.js'
import { assertStatusType, budgetStatus, exhaustedTenantLimit, type BudgetStatus, type LimitStatus } from './status.js'
import { TenantAdmission, type Admitted, type BudgetsOptions } from './tenant.js'

export type { TrackCall } from './call.js'
export type { Admitted, BudgetsOptions } from './tenant.js'

export class LlmBudgets {
  readonly config: LlmConfig
  readonly provider: SqlProvider
  private readonly client: LlmPrismaClient & TransactionRunner & RawRunner
  private readonly tenants: TenantAdmission
  /** Spent figures seen recently, to refuse a used-up budget without a round trip (see spent-cache.ts). */
  private readonly spent: SpentCache
  /** Outcomes not yet settled because the database was unreachable (see pending-settles.ts). */
  private readonly pending: PendingSettles
  /** Delays the refusals of a tenant that keeps being refused (see refusal-backoff.ts). */
  private readonly backoff: RefusalBackoff
  /** This process's admitted calls in flight, to refuse a full maxConcurrent without a round trip (see in-flight.ts). */
  private readonly inFlight: LocalInFlight
  private readonly settling: SettleContext
  private lastPrune = Date.now()

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput, options: BudgetsOptions = {}) {
    this.client = assertClient(client) as LlmPrismaClient & TransactionRunner & RawRunner
    this.config = toConfig(config)
    this.provider = detectProvider(client)
    this.tenants = new TenantAdmission(this.client, this.provider, this.config, options)
    this.spent = new SpentCache(this.config.tenantCacheTtlMs, () => this.config.now().getTime())
    this.backoff = new RefusalBackoff(this.config.refusalBackoffMs)
    this.inFlight = new LocalInFlight(() => this.config.now().getTime())
    this.pending = new PendingSettles((executionId) => {
      logTo(this.config.logger, 'error', { executionId }, 'A pending settle was given up: more than 10,000 outcomes waited for the database')
      this.config.events.emit('settle_abandoned', { executionId })
    })
    this.settling = { client: this.client, provider: this.provider, config: this.config, spent: this.spent, pending: this.pending }
    this.config.telemetry.watchPendingSettles(this)
  }

  /**
   * Runs `fn` as one admitted LLM call of `tenant` (id, host record, `{ id, limits }` override,
   * `undefined` = ambient/resolver, `null` = no tenant). Refused before `fn` runs when a hard limit
   * would be exceeded; settled exactly once afterwards with the usage `fn` reported.
   */
  track<T>(tenant: TenantRef | null | undefined, call: TrackCall, fn: (ctx: CallContext) => Promise<T>): Promise<T> {
    return this.trackInSpan(undefined, tenant, call, fn)
  }

  /**
   * @internal `track` for the agent runtime's attempts: a refusal's event goes to `spans.parent`
   * (the run's span), an admitted call opens its own span (`spans.open()`) for its admission and
   * settle. Without `spans` (a bare `track`), the events go to the app's active span — events
   * only, that span is not ours — whose trace id becomes the row's traceId when the call gives none.
   */
  async trackInSpan<T>(
    spans: AttemptSpans | undefined,
    tenant: TenantRef | null | undefined,
    call: TrackCall,
    fn: (ctx: CallContext) => Promise<T>,
  ): Promise<T> {
    const request = validateCall(call, this.config.budgets)
    const telemetry = this.config.telemetry
    const owned = spans !== undefined
    let span = spans ? spans.parent : telemetry.activeSpan()
    request.traceId ??= traceIdOf(span)
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'an async function performing the call', fn)
    if (call.signal?.aborted) throw call.signal.reason ?? new DOMException('Aborted', 'AbortError')

    // The call's one instant: its ledger row's startedAt AND the day/month buckets its budget is
    // counted in (a clock read again after a slow tenant load or resolver could land past midnight).
    const startedAt = this.config.now()
    const executionId = randomUUID()
    let admitted: Admitted | undefined
    let rates: RateDelta[] = []
    let leave: () => void
    try {
      admitted = await this.tenants.admit(tenant, request.agentType, { at: startedAt, apiKeyId: request.apiKeyId })
      const reservation: Reservation = {
        executionId,
        keys: admitted.keys,
        cost: request.estimateCost,
        tokens: request.estimateTokens,
        expiresAt: new Date(startedAt.getTime() + this.config.holdTtlMs),
      }
      const row = toExecutionRow(
        {
          id: executionId,
          tenantId: admitted.tenantId,
          agentType: request.agentType,
          model: request.model,
          provider: request.provider,
          status: 'running',
          startedAt,
          traceId: request.traceId,
          parentId: request.parentId,
          apiKeyId: request.apiKeyId,
          metadata: request.metadata as Record<string, unknown> | null,
        },
        startedAt,
      )
      // The rate windows the call is decided on; a window it can never fit is refused at once.
      const windows = rateDeltas(admitted.policy.rateChecks, request.estimateTokens)
      if (windows.never) throw rateRefusalError(windows.never, request.agentType, toNs(startedAt), null)
      rates = windows.deltas
      if (rates.length > 0 && Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
        void this.pruneRateLimits().catch((e) => logTo(this.config.logger, 'warn', errorFields(e), 'Pruning expired rate-limit rows failed'))
      }
      const gate = await this.inFlight.enter(admitted.policy)
      if ('refusal' in gate) throw refusalError(gate.refusal, request.agentType, startedAt, this.config.timeZone)
      try {
        await reserve(
          this.client,
          this.provider,
          reservation,
          row,
          admitted.policy,
          rates,
          startedAt,
          () => this.releaseExpiredHolds(),
          this.config.timeZone,
          this.spent,
          () => this.config.now(),
        )
      } catch (err) {
        gate.ticket.refused()
        throw err
      }
      leave = gate.ticket.admitted(executionId, reservation.expiresAt)
      if (spans) span = spans.open() // admitted: the attempt reaches the provider, it gets its span
      telemetry.admitted(span, executionId, reservation.cost, reservation.tokens, owned)
    } catch (err) {
      // A refusal may involve no I/O at all (SQLite is synchronous): without a turn of the event loop,
      // a caller that retries in a loop would spin on microtasks and starve every timer and socket of
      // the process — every other tenant's calls included.
      await yieldToEventLoop()
      if (err instanceof BudgetExceededError || err instanceof TenantInactiveError || err instanceof RateLimitExceededError) {
        // A refusal is a ledger row of its own status, on every path (refusals.ts).
        const tenantId = admitted?.tenantId ?? err.tenantId
        await this.recordRefusal({ ...request, executionId, tenantId, at: startedAt }, err, span)
        if (err instanceof BudgetExceededError) {
          emitBudgetEvent(this.config, {
            type: 'hard_limit_refused',
            scope: err.scope,
            limitType: err.limitType,
            limit: figureText(err.limit),
            current: figureText(err.current),
            tenantId: err.tenantId,
            agentType: err.agentType,
            bucket: '',
            at: startedAt,
          })
        } else if (err instanceof RateLimitExceededError) {
          this.config.events.emit('rate_limited', {
            scope: err.scope,
            name: err.limitName,
            tenantId: err.tenantId,
            agentType: err.agentType,
            retryAfterMs: err.retryAfterMs,
            at: startedAt,
          })
        }
        // A tenant refused again and again is slowed down (runaway protection, refusal-backoff.ts).
        if (!(err instanceof TenantInactiveError)) await holdBack(this.backoff.delayFor(err.tenantId), call.signal)
        throw err
      }
      if (err instanceof LlmTenantError) throw err
      if (this.config.failMode === 'open') {
        // At most once per 10 s: while the database is down, every call would warn.
        telemetry.warnThrottled(
          'fail-open',
          () => ({ agentType: request.agentType, ...errorFields(err) }),
          "Admission failed and the fail mode is 'open': the call runs untracked",
        )
        spans?.open() // untracked, but it reaches the provider
        return fn(untrackedContext(executionId, request.agentType, call.signal))
      }
      throw new AdmissionError(`Admission failed and the fail mode is 'closed': ${redactText(String((err as Error)?.message ?? err))}`, { cause: err })
    }

    let usage: NormalizedUsage | undefined
    const ctx: CallContext = {
      executionId,
      tenantId: admitted.tenantId,
      agentType: request.agentType,
      signal: call.signal,
      reportUsage: (report) => {
        usage = normalizeUsage(report)
      },
    }
    // The slot is left locally before the settle that frees it in the database: the local count
    // must never exceed the database's (it refuses on its own).
    try {
      const result = await fn(ctx)
      leave()
      const outcome = callOutcome(request, startedAt, this.config.now(), 'success', usage, null)
      this.reportSettled(span, owned, executionId, admitted, request, outcome, await settleCall(this.settling, executionId, admitted, request, rates, outcome))
      return result
    } catch (err) {
      leave()
      const outcome = callOutcome(request, startedAt, this.config.now(), statusOfError(err), usage, err)
      this.reportSettled(span, owned, executionId, admitted, request, outcome, await settleCall(this.settling, executionId, admitted, request, rates, outcome))
      throw err
    }
  }

  /** Telemetry of a settled call (nothing built when nothing observes it). */
  private reportSettled(
    span: Span | undefined,
    owned: boolean,
    executionId: string,
    admitted: Admitted,
    request: ValidatedCall,
    outcome: ExecutionOutcome,
    written: boolean,
  ): void {
    const telemetry = this.config.telemetry
    if (!telemetry.observes(span)) {
      telemetry.holdClosed()
      return
    }
    const call = { tenantId: admitted.tenantId, agentType: request.agentType, model: request.model, provider: request.provider }
    const { status, totalCostNanos: costNanos, inputTokens, outputTokens } = outcome
    telemetry.settled(span, call, { executionId, status, costNanos, inputTokens, outputTokens, pending: !written }, owned)
  }

  /**
   * Records a call refused before the provider was contacted as a `refused` ledger row (see
   * refusals.ts); the agent runtime records its own refusals (open breaker, missing key) here too.
   */
  async recordRefusal(call: RefusedCall, err: Error, span?: Span): Promise<string> {
    const id = await recordRefusal(this.client, this.provider, call, err, this.config.now(), this.config.logger)
    const attributes = { tenantId: call.tenantId, agentType: call.agentType, model: call.model, provider: call.provider ?? null }
    this.config.telemetry.refused(span, attributes, refusalInfo(id, err))
    return id
  }

  /**
   * Releases holds of crashed holders whose expiry has passed. Returns how many. This process's
   * pending settles (see retryPendingSettles) are written first, so their rows get their real
   * outcome instead of becoming timeouts.
   */
  async releaseExpiredHolds(): Promise<number> {
    await this.pending.flush().catch((e) => (logTo(this.config.logger, 'warn', errorFields(e), 'Writing pending settles failed'), 0))
    return expireHolds(this.client, this.provider, this.config.now(), this.config.holdExpiry)
  }

  /**
   * Settles outcomes whose settle failed earlier (database unreachable); they are also retried in
   * the background with backoff. Returns how many were written now; `pendingSettles` is how many remain.
   */
  retryPendingSettles(): Promise<number> {
    return this.pending.flush()
  }

  /** Outcomes waiting to be settled because the database was unreachable when their call ended. */
  get pendingSettles(): number {
    return this.pending.size
  }

  /** Recomputes counters from the ledger and open holds (one tenant, or everything). */
  refreshCounters(options: { tenantId?: string } = {}): Promise<RefreshResult> {
    assertQuery(options, ['tenantId'], 'options')
    const tenantId = options.tenantId === undefined ? undefined : assertIdentifier(options.tenantId, 'tenantId')
    this.spent.clear() // a refresh may lower counters that the cache has seen
    return refreshCounters(this.client, this.provider, this.config, tenantId)
  }

  /** Per-limit figures for a tenant's current day/month (see LimitStatus). */
  async status(tenant: TenantRef): Promise<BudgetStatus> {
    return (await this.statusWithPolicy(tenant)).status
  }

  private async statusWithPolicy(tenant: TenantRef): Promise<{ status: BudgetStatus; admitted: Admitted; at: Date }> {
    const at = this.config.now()
    const admitted = await this.tenants.admit(tenant, '', { skipActiveCheck: true, at })
    if (admitted.tenantId === null) throw new InvalidArgumentError('tenant', 'a tenant (multi-tenancy is on)', tenant)
    const rows = await readCounters(
      this.client,
      this.provider,
      admitted.keys.filter((k) => k[0] === 'tenant'),
    )
    return { status: budgetStatus(admitted.tenantId, admitted.policy, admitted.keys, rows), admitted, at }
  }

  /**
   * Per rate window that applies to the tenant (its own, its plan's, inherited, and the global
   * ones; an agent's too with `agentType`): limit, remaining, resetsAt and source.
   */
  async rateLimitStatus(tenant: TenantRef, options: { agentType?: string; apiKeyId?: string } = {}): Promise<RateWindowStatus[]> {
    assertQuery(options, ['agentType', 'apiKeyId'], 'options')
    const agentType = options.agentType === undefined ? '' : assertIdentifier(options.agentType, 'options.agentType', 255)
    // With a key: its own windows too (scope 'api_key'), as a call made with it is decided on.
    const apiKeyId = options.apiKeyId === undefined ? null : assertIdentifier(options.apiKeyId, 'options.apiKeyId', 191)
    const at = this.config.now()
    const admitted = await this.tenants.admit(tenant, agentType, { skipActiveCheck: true, at, apiKeyId })
    if (admitted.tenantId === null) throw new InvalidArgumentError('tenant', 'a tenant (multi-tenancy is on)', tenant)
    return rateWindowStatus(this.client, this.provider, admitted.policy.rateChecks, at)
  }

  /**
   * Deletes rate-limit rows that owe nothing (their window has fully refilled): such a row is the
   * same as none, so state stays bounded by the keys in use. Runs by itself about once an hour
   * while rate limits are in use; returns how many rows it deleted.
   */
  async pruneRateLimits(): Promise<number> {
    this.lastPrune = Date.now()
    return pruneRateRows(this.client, this.provider, await rateClockNs(this.client, this.provider, this.config.now()))
  }

  /** True when the limit (or every limit) still has room: no limit, or used < limit. */
  async withinBudget(tenant: TenantRef, options: { type?: BudgetLimitType } = {}): Promise<boolean> {
    assertQuery(options, ['type'], 'options')
    const type = assertStatusType(options.type, 'type')
    const status = await this.status(tenant)
    const entries = type ? [status.limits[type]] : Object.values(status.limits)
    return entries.every((l) => l.remaining === null || (typeof l.remaining === 'number' ? l.remaining > 0 : l.remaining.gt(0)))
  }

  /** What is left of one limit (default dailyCost); null when there is no limit. */
  async remainingBudget(tenant: TenantRef, options: { type?: BudgetLimitType } = {}): Promise<LimitStatus['remaining']> {
    assertQuery(options, ['type'], 'options')
    const type = assertStatusType(options.type, 'type') ?? 'dailyCost'
    return (await this.status(tenant)).limits[type].remaining
  }

  /** Throws BudgetExceededError when a hard-enforced limit is used up; returns the status otherwise. */
  async checkBudget(tenant: TenantRef): Promise<BudgetStatus> {
    const { status, admitted, at } = await this.statusWithPolicy(tenant)
    const exhausted = exhaustedTenantLimit(status, admitted.policy)
    if (exhausted) throw refusalError(exhausted, null, at, this.config.timeZone)
    return status
  }

  /** Resolves the tenant and its effective policy for an agent (no reservation). */
  admit(
    tenant: TenantRef | null | undefined,
    agentType: string,
    opts: { skipActiveCheck?: boolean; at?: Date; apiKeyId?: string | null } = {},
  ): Promise<Admitted> {
    return this.tenants.admit(tenant, agentType, opts)
  }

  /** Explicit tenant → withTenant() → tenantResolver → none. */
  resolveTenant(tenant: TenantRef | null | undefined): Promise<ResolvedTenant | null> {
    return this.tenants.resolve(tenant)
  }
}

/** How often rate-limit rows that owe nothing are deleted (in the background, while rate limits are in use). */
const PRUNE_EVERY_MS = 3_600_000

/** What `fn` sees when admission failed and the fail mode is open: nothing is tracked. */
function untrackedContext(executionId: string, agentType: string, signal?: AbortSignal): CallContext {
  return { executionId, tenantId: null, agentType, signal, reportUsage: (u) => void normalizeUsage(u) }
}
