/**
 * LlmBudgets: the one admission pipeline every LLM call goes through —
 *   tenant (resolve, load, active) → limits (effective policy) → reserve (hold) → call → settle.
 * Each step lives in its own module; this file only sequences them and applies the fail mode.
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config.js'
import { assertClient, detectProvider, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { AdmissionError, BudgetExceededError, InvalidArgumentError, LlmTenantError, TenantInactiveError } from '../errors.js'
import { usdToNanos, type Decimal, type UsdInput } from '../money/index.js'
import { assertIdentifier, assertTokenCount, toExecutionRow, toMetadataJson } from '../ledger/record.js'
import { assertQuery } from '../ledger/scope.js'
import { redactMetadata, redactText } from '../ledger/redact.js'
import type { JsonValue } from '../ledger/types.js'
import { currentTenant, parseOverride, ResolvedTenantRef, resolveTenantRef, type ResolvedTenant, type TenantRef } from '../tenant/ref.js'
import { ensureTenantRow, findTenantRow, rowLimits, TenantRowCache, type TenantRow } from '../tenant/loader.js'
import type { TenantInput } from '../tenant/store.js'
import { reserve, refusalError, type Reservation, type TransactionRunner } from './admission.js'
import { normalizeUsage, statusOfError, yieldToEventLoop, type CallContext, type NormalizedUsage } from './call.js'
import { claimAlert, readCounters, type CounterRow, type RawRunner } from './counters.js'
import { assertStatusType, budgetStatus, type BudgetStatus, type LimitStatus } from './status.js'
import { effectivePolicy, type BudgetLimitType, type EffectivePolicy } from './effective.js'
import { emitBudgetEvent } from './events.js'
import { counterKeysFor, keyId, maintainedKeys, type CounterKey } from './keys.js'
import { refreshCounters, type RefreshResult } from './refresh.js'
import { PendingSettles } from './pending-settles.js'
import { holdBack, RefusalBackoff } from './refusal-backoff.js'
import { SpentCache } from './spent-cache.js'
import { LocalInFlight } from './in-flight.js'
import { expireHolds, settle } from './settlement.js'
import { recordRefusal, type RefusedCall } from './refusals.js'

export interface TrackCall {
  agentType: string
  model: string
  provider?: string | null
  /** The reservation: the most this call may cost / use. Default `budgets.defaultEstimate` ($0 and 0 tokens unless set). */
  estimate?: { cost?: UsdInput; tokens?: number }
  traceId?: string | null
  parentId?: string | null
  metadata?: Record<string, unknown> | null
  signal?: AbortSignal
}

export interface BudgetsOptions {
  /** Recognises host records of the tenant model and returns their tenant id (from the extension). */
  hostIdOf?: (record: object) => string | undefined
  /** Creates missing tenant rows on first use with these values (the extension's `budget: true`). */
  autoCreate?: (tenant: ResolvedTenant) => TenantInput | null
}

/** Everything admission decided about one call. */
export interface Admitted {
  tenantId: string | null
  agentType: string
  policy: EffectivePolicy
  keys: CounterKey[]
}

/** The distinct keys the policy enforces (a key can carry a cost, a token and an execution limit). */
function checkedKeys(policy: EffectivePolicy): CounterKey[] {
  const keys: CounterKey[] = []
  for (const c of policy.checks) if (c.enforcement !== 'none' && !keys.includes(c.key)) keys.push(c.key)
  return keys
}

/** A refusal's figure as event text: dollars without exponent notation, or the count. */
const figureText = (v: Decimal | number): string => (typeof v === 'number' ? String(v) : v.toFixed())

const TRACK_KEYS = new Set(['agentType', 'model', 'provider', 'estimate', 'traceId', 'parentId', 'metadata', 'signal'])

export class LlmBudgets {
  readonly config: LlmConfig
  readonly provider: SqlProvider
  private readonly client: LlmPrismaClient & TransactionRunner & RawRunner
  private readonly tenantRows: TenantRowCache
  /** Spent figures seen recently, to refuse a used-up budget without a round trip (see spent-cache.ts). */
  private readonly spent: SpentCache
  /** Outcomes not yet settled because the database was unreachable (see pending-settles.ts). */
  private readonly pending: PendingSettles
  /** Delays the refusals of a tenant that keeps being refused (see refusal-backoff.ts). */
  private readonly backoff: RefusalBackoff
  /** This process's admitted calls in flight, to refuse a full maxConcurrent without a round trip (see in-flight.ts). */
  private readonly inFlight: LocalInFlight

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput, private readonly options: BudgetsOptions = {}) {
    this.client = assertClient(client) as LlmPrismaClient & TransactionRunner & RawRunner
    this.config = toConfig(config)
    this.provider = detectProvider(client)
    this.tenantRows = new TenantRowCache(this.config.tenantCacheTtlMs)
    this.spent = new SpentCache(this.config.tenantCacheTtlMs, () => this.config.now().getTime())
    this.backoff = new RefusalBackoff(this.config.refusalBackoffMs)
    this.inFlight = new LocalInFlight(() => this.config.now().getTime())
    this.pending = new PendingSettles((executionId) => this.config.events.emit('settle_abandoned', { executionId }))
  }

  /**
   * Runs `fn` as one admitted LLM call of `tenant` (id, host record, `{ id, limits }` override,
   * `undefined` = ambient/resolver, `null` = no tenant). Refused before `fn` runs when a hard limit
   * would be exceeded; settled exactly once afterwards with the usage `fn` reported.
   */
  async track<T>(tenant: TenantRef | null | undefined, call: TrackCall, fn: (ctx: CallContext) => Promise<T>): Promise<T> {
    const request = this.validateCall(call)
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'an async function performing the call', fn)
    if (call.signal?.aborted) throw call.signal.reason ?? new DOMException('Aborted', 'AbortError')

    // The call's one instant: its ledger row's startedAt AND the day/month buckets its budget is
    // counted in (a clock read again after a slow tenant load or resolver could land past midnight).
    const startedAt = this.config.now()
    const executionId = randomUUID()
    let admitted: Admitted | undefined
    let leave: () => void
    try {
      admitted = await this.admit(tenant, request.agentType, { at: startedAt })
      const reservation: Reservation = {
        executionId,
        keys: admitted.keys,
        cost: request.estimateCost,
        tokens: request.estimateTokens,
        expiresAt: new Date(startedAt.getTime() + this.config.holdTtlMs),
      }
      const row = toExecutionRow(
        { id: executionId, tenantId: admitted.tenantId, agentType: request.agentType, model: request.model, provider: request.provider,
          status: 'running', startedAt, traceId: request.traceId, parentId: request.parentId, metadata: request.metadata as Record<string, unknown> | null },
        startedAt,
      )
      const gate = await this.inFlight.enter(admitted.policy)
      if ('refusal' in gate) throw refusalError(gate.refusal, request.agentType, startedAt, this.config.timeZone)
      try {
        await reserve(this.client, this.provider, reservation, row, admitted.policy, startedAt, () => this.releaseExpiredHolds(), this.config.timeZone, this.spent)
      } catch (err) {
        gate.ticket.refused()
        throw err
      }
      leave = gate.ticket.admitted(executionId, reservation.expiresAt)
    } catch (err) {
      // A refusal may involve no I/O at all (SQLite is synchronous): without a turn of the event loop,
      // a caller that retries in a loop would spin on microtasks and starve every timer and socket of
      // the process — every other tenant's calls included.
      await yieldToEventLoop()
      if (err instanceof BudgetExceededError || err instanceof TenantInactiveError) {
        // A refusal is a ledger row of its own status, on every path (refusals.ts).
        const tenantId = admitted?.tenantId ?? err.tenantId
        await this.recordRefusal({ ...request, executionId, tenantId, at: startedAt }, err)
        if (err instanceof BudgetExceededError) {
          emitBudgetEvent(this.config, { type: 'hard_limit_refused', scope: err.scope, limitType: err.limitType, limit: figureText(err.limit),
            current: figureText(err.current), tenantId: err.tenantId, agentType: err.agentType, bucket: '', at: startedAt })
          // A tenant refused again and again is slowed down (runaway protection, refusal-backoff.ts).
          await holdBack(this.backoff.delayFor(err.tenantId), call.signal)
        }
        throw err
      }
      if (err instanceof LlmTenantError) throw err
      if (this.config.failMode === 'open') return fn(this.untrackedContext(executionId, request.agentType, call.signal))
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
      await this.finish(executionId, admitted, request, startedAt, 'success', usage, null)
      return result
    } catch (err) {
      leave()
      await this.finish(executionId, admitted, request, startedAt, statusOfError(err), usage, err)
      throw err
    }
  }

  /**
   * Records a call refused before the provider was contacted as a `refused` ledger row (see
   * refusals.ts); the agent runtime records its own refusals (open breaker, missing key) here too.
   */
  recordRefusal(call: RefusedCall, err: Error): Promise<string> {
    return recordRefusal(this.client, this.provider, call, err)
  }

  /**
   * Releases holds of crashed holders whose expiry has passed. Returns how many. This process's
   * pending settles (see retryPendingSettles) are written first, so their rows get their real
   * outcome instead of becoming timeouts.
   */
  async releaseExpiredHolds(): Promise<number> {
    await this.pending.flush().catch(() => 0)
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
    const admitted = await this.admit(tenant, '', { skipActiveCheck: true, at })
    if (admitted.tenantId === null) throw new InvalidArgumentError('tenant', 'a tenant (multi-tenancy is on)', tenant)
    const rows = await readCounters(this.client, this.provider, admitted.keys.filter((k) => k[0] === 'tenant'))
    return { status: budgetStatus(admitted.tenantId, admitted.policy, admitted.keys, rows), admitted, at }
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
    if (status.enforcement !== 'hard') return status
    for (const l of Object.values(status.limits)) {
      if (l.limit === null || l.remaining === null) continue
      const exhausted = typeof l.remaining === 'number' ? l.remaining <= 0 : l.remaining.lte(0)
      if (!exhausted) continue
      const check = admitted.policy.checks.find((c) => c.scope === 'tenant' && c.limitType === l.limitType)
      if (!check) continue
      const used = typeof l.used === 'number' ? BigInt(l.used) : usdToNanos(l.used, 'used')
      throw refusalError({ ...check, current: used }, null, at, this.config.timeZone)
    }
    return status
  }

  /** Resolves the tenant and its effective policy for an agent (no reservation). */
  async admit(tenant: TenantRef | null | undefined, agentType: string, opts: { skipActiveCheck?: boolean; at?: Date } = {}): Promise<Admitted> {
    const resolved = !this.config.multiTenancy ? null : tenant instanceof ResolvedTenantRef ? tenant.value : await this.resolveTenant(tenant)
    let row: TenantRow | null = null
    const overrides = []
    if (resolved) {
      if (resolved.override) overrides.push(resolved.override)
      row = await this.tenantRows.get(resolved.tenantId, () => findTenantRow(this.client, resolved.tenantId))
      if (!row && this.options.autoCreate) {
        const input = this.options.autoCreate(resolved)
        if (input) row = await ensureTenantRow(this.client, this.provider, input, this.config.now())
      }
      if (row && row.active === false && !opts.skipActiveCheck) throw new TenantInactiveError(resolved.tenantId)
      if (this.config.tenantConfigResolver) {
        const extra = await this.config.tenantConfigResolver(resolved.tenantId)
        if (extra) overrides.push(parseOverride(extra, 'tenantConfigResolver()'))
      }
    }
    const tenantId = resolved?.tenantId ?? null
    const allKeys = counterKeysFor(tenantId, agentType, opts.at ?? this.config.now(), this.config.timeZone)
    const policy = effectivePolicy(this.config.budgets, tenantId, agentType, allKeys, row ? rowLimits(row) : null, overrides)
    return { tenantId, agentType, policy, keys: maintainedKeys(allKeys, policy) }
  }

  /** Explicit tenant → withTenant() → tenantResolver → none. */
  async resolveTenant(tenant: TenantRef | null | undefined): Promise<ResolvedTenant | null> {
    if (!this.config.multiTenancy) return null
    if (tenant instanceof ResolvedTenantRef) return tenant.value
    if (tenant !== undefined) return resolveTenantRef(tenant, this.options.hostIdOf)
    const ambient = currentTenant()
    if (ambient !== undefined) return resolveTenantRef(ambient, this.options.hostIdOf)
    if (!this.config.tenantResolver) return null
    return resolveTenantRef(await this.config.tenantResolver(), this.options.hostIdOf, 'tenantResolver()')
  }

  private validateCall(call: TrackCall) {
    if (typeof call !== 'object' || call === null) throw new InvalidArgumentError('call', '{ agentType, model, estimate? }', call)
    for (const key of Object.keys(call)) {
      if (!TRACK_KEYS.has(key)) throw new InvalidArgumentError(`call.${key}`, [...TRACK_KEYS].join(', '), key)
    }
    const estimate = call.estimate ?? {}
    assertQuery(estimate, ['cost', 'tokens'], 'call.estimate')
    const defaults = this.config.budgets.defaultEstimate
    const tokens = estimate.tokens === undefined ? defaults.tokens : assertTokenCount(estimate.tokens, 'call.estimate.tokens')
    const cap = this.config.budgets.maxReservation
    const min = (a: bigint, b: bigint | null) => (b !== null && b < a ? b : a)
    const provider = call.provider === undefined || call.provider === null ? null : assertIdentifier(call.provider, 'call.provider', 255)
    for (const field of ['traceId', 'parentId'] as const) {
      const v = call[field]
      if (v !== undefined && v !== null && (typeof v !== 'string' || v.length === 0 || v.length > 191)) {
        throw new InvalidArgumentError(`call.${field}`, 'a non-empty string of at most 191 characters, or null', v)
      }
    }
    return {
      agentType: assertIdentifier(call.agentType, 'call.agentType', 255),
      model: assertIdentifier(call.model, 'call.model', 255),
      provider,
      estimateCost: min(estimate.cost === undefined ? defaults.cost : usdToNanos(estimate.cost, 'call.estimate.cost'), cap.cost),
      estimateTokens: min(BigInt(tokens), cap.tokens),
      traceId: call.traceId ?? null,
      parentId: call.parentId ?? null,
      // Validated (and redacted) up front: a refusal row carries it too, and bad input writes nothing.
      metadata: toMetadataJson(call.metadata, 'call.metadata'),
    }
  }

  private untrackedContext(executionId: string, agentType: string, signal?: AbortSignal): CallContext {
    return { executionId, tenantId: null, agentType, signal, reportUsage: (u) => void normalizeUsage(u) }
  }

  private async finish(
    executionId: string,
    admitted: Admitted,
    request: ReturnType<LlmBudgets['validateCall']>,
    startedAt: Date,
    status: 'success' | 'error' | 'timeout' | 'cancelled',
    usage: NormalizedUsage | undefined,
    error: unknown,
  ): Promise<void> {
    const completedAt = this.config.now()
    // No report = charged the reservation (never a bypass).
    const u = usage ?? {
      inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, totalTokens: Number(request.estimateTokens),
      inputCostNanos: request.estimateCost, outputCostNanos: 0n, totalCostNanos: request.estimateCost,
    }
    const err = error as { name?: string; message?: string } | null
    const outcome = {
      status,
      ...u,
      model: usage?.model ?? request.model,
      completedAt,
      durationMs: Math.max(0, completedAt.getTime() - startedAt.getTime()),
      errorClass: error ? redactText(String(err?.name ?? 'Error')).slice(0, 255) : null,
      errorMessage: error ? redactText(String(err?.message ?? error)).slice(0, 4000) : null,
      metadata: usage
        ? usage.metadata
          ? (redactMetadata({ ...((request.metadata as Record<string, unknown> | null) ?? {}), ...usage.metadata }) as JsonValue)
          : null
        : (redactMetadata({ ...((request.metadata as Record<string, unknown> | null) ?? {}), usageReported: false }) as JsonValue),
    }
    const held = { keys: admitted.keys, cost: request.estimateCost, tokens: request.estimateTokens, watched: checkedKeys(admitted.policy) }
    const settleOutcome = async () => {
      const result = await settle(this.client, this.provider, executionId, outcome, this.config.timeZone, this.config.now(), held)
      this.spent.observe(result.counters)
      if (result.settled) await this.emitSoftEvents(admitted, result.counters, this.config.now())
    }
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await settleOutcome()
      } catch (e) {
        lastError = e
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt))
      }
    }
    // The caller's result is not thrown away for a bookkeeping failure: the outcome is kept and
    // settled when the database is back (pending-settles.ts); a settle after the hold expired is
    // still accepted once.
    this.pending.add({ executionId, settle: settleOutcome })
    this.config.events.emit('settle_failed', { executionId, error: lastError, outcome, pending: true })
  }

  private async emitSoftEvents(admitted: Admitted, rows: CounterRow[], at: Date): Promise<void> {
    if (!admitted.policy.checks.some((c) => c.enforcement === 'soft')) return
    const byId = new Map(rows.map((r) => [keyId([r.scope, r.tenantId, r.agentType, r.period, r.bucket] as unknown as CounterKey), r]))
    for (const check of admitted.policy.checks) {
      if (check.enforcement !== 'soft') continue
      const row = byId.get(keyId(check.key))
      if (!row) continue
      const used = check.measure === 'cost' ? row.spentCost : check.measure === 'tokens' ? row.spentTokens : row.spentExecutions + (check.limitType === 'maxConcurrent' ? row.reservedExecutions : 0n)
      if (used < check.limit || (check.limit === 0n && used === 0n)) continue
      if (!(await claimAlert(this.client, this.provider, check.key, check.limitType))) continue
      const e = refusalError({ ...check, current: used }, admitted.agentType, at, this.config.timeZone)
      emitBudgetEvent(this.config, { type: 'soft_limit_reached', scope: e.scope, limitType: check.limitType, limit: figureText(e.limit), current: figureText(e.current),
        tenantId: e.tenantId, agentType: e.agentType, bucket: check.key[4], at })
    }
  }
}

