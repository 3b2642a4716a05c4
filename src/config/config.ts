/**
 * The one shared configuration object. The ledger, the budget layer, the llmTenant() extension and
 * the agent runtime all read the same validated, frozen config, so "which zone is today in" and
 * "what is the global budget" have one answer.
 */
import type { EventEmitter } from 'node:events'
import { validateTimeZone, validateWeekStartsOn, type WeekStartsOn } from '../foundation/periods.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { parseBudgets, type BudgetOptions, type BudgetsInput } from './budgets.js'
import type { BudgetEvent } from './events.js'
import { createBudgetEvents } from './events.js'
import type { TenantOverride, TenantRef } from './overrides.js'
import { assertLogger, parseTelemetryOptions, type LlmLogger, type TelemetryOptions } from '../telemetry/options.js'
import { LlmTelemetry } from '../telemetry/telemetry.js'

export interface LlmConfigInput {
  /** IANA zone in which days, weeks and months are computed. Default `UTC`. */
  timeZone?: string
  /** First day of the week, 0 = Sunday … 6 = Saturday. Default 1 (Monday). */
  weekStartsOn?: number
  /** Clock used for named periods and default timestamps. Default `() => new Date()`. */
  now?: () => Date
  /** Global budgets, per-agent limits and the defaults tenants inherit. */
  budgets?: BudgetsInput
  /** Supplies the tenant when a call names none (after `withTenant`). May be async. */
  tenantResolver?: () => TenantRef | null | undefined | Promise<TenantRef | null | undefined>
  /** Per-call limits/enforcement that override the database for a tenant. May be async. */
  tenantConfigResolver?: (tenantId: string) => TenantOverride | null | undefined | Promise<TenantOverride | null | undefined>
  /** `false` ignores tenants entirely: only global budgets apply. Default true. */
  multiTenancy?: boolean
  /**
   * What admission does when it cannot decide (database error, resolver threw):
   * `'closed'` (default) refuses with `AdmissionError`; `'open'` lets the call run untracked-by-budget.
   */
  failMode?: 'closed' | 'open'
  /** How long a hold lives before a crashed holder's reservation is released. Default 10 minutes. */
  holdTtlMs?: number
  /**
   * What an expired hold (its holder crashed or outlived `holdTtlMs`) costs the budget:
   * `'release'` (default) voids the reservation and counts one execution with no usage;
   * `'charge'` charges the reserved cost and tokens (for apps that would rather over-count an
   * unknown outcome than under-count it). Either way the row becomes `timeout` / HoldExpiredError,
   * and a settle that arrives later replaces it with the real outcome once.
   */
  holdExpiry?: 'release' | 'charge'
  /** Called for every budget event (also emitted on `config.events` as 'budget'). */
  onBudgetEvent?: (event: BudgetEvent) => void
  /**
   * How long admission may reuse a tenant row it read (limits, enforcement, active). Writes through
   * this library invalidate it at once in-process; other processes see them within this time.
   * Default 1000 ms; 0 reads the row on every call.
   */
  tenantCacheTtlMs?: number
  /**
   * Runaway protection: once a tenant has been refused more than 3 times within a second, each
   * further refusal is thrown after a delay doubling from 1 ms up to this cap, so an agent that
   * retries in a loop slows down instead of crowding out other tenants. Default 250; 0 = off.
   */
  refusalBackoffMs?: number
  /**
   * OpenTelemetry spans and metrics (docs/observability.md): providers (default: the global ones,
   * no-op until the app registers an SDK) and whether the tenant id is an attribute (default off).
   */
  telemetry?: TelemetryOptions
  /** A pino-compatible logger for the library's warnings and errors (settle failures, fail-open admissions). */
  logger?: LlmLogger
}

export interface LlmConfig {
  readonly timeZone: string
  readonly weekStartsOn: WeekStartsOn
  readonly now: () => Date
  readonly budgets: BudgetOptions
  readonly tenantResolver?: LlmConfigInput['tenantResolver']
  readonly tenantConfigResolver?: LlmConfigInput['tenantConfigResolver']
  readonly multiTenancy: boolean
  readonly failMode: 'closed' | 'open'
  readonly holdTtlMs: number
  readonly holdExpiry: 'release' | 'charge'
  readonly onBudgetEvent?: (event: BudgetEvent) => void
  readonly tenantCacheTtlMs: number
  readonly refusalBackoffMs: number
  /** The spans and metrics every budget, runtime and HTTP handler on this config reports to. */
  readonly telemetry: LlmTelemetry
  readonly logger?: LlmLogger
  /** Emits 'budget' events (BudgetEvent). */
  readonly events: EventEmitter
}

const CONFIG_KEYS = [
  'timeZone',
  'weekStartsOn',
  'now',
  'budgets',
  'tenantResolver',
  'tenantConfigResolver',
  'multiTenancy',
  'failMode',
  'holdTtlMs',
  'holdExpiry',
  'onBudgetEvent',
  'tenantCacheTtlMs',
  'refusalBackoffMs',
  'telemetry',
  'logger',
] as const
const CONFIG_MARK = Symbol.for('prisma-llm-tenant.config')

function assertFunction(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidArgumentError(field, 'a function', value)
}

export function defineLlmConfig(input: LlmConfigInput = {}): LlmConfig {
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError('config', 'an object', input)
  for (const key of Object.keys(input)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`config.${key}`, `one of the known keys: ${CONFIG_KEYS.join(', ')}`, key)
    }
  }
  assertFunction(input.now, 'config.now')
  assertFunction(input.tenantResolver, 'config.tenantResolver')
  assertFunction(input.tenantConfigResolver, 'config.tenantConfigResolver')
  assertFunction(input.onBudgetEvent, 'config.onBudgetEvent')
  if (input.multiTenancy !== undefined && typeof input.multiTenancy !== 'boolean') {
    throw new InvalidArgumentError('config.multiTenancy', 'true or false', input.multiTenancy)
  }
  if (input.failMode !== undefined && input.failMode !== 'closed' && input.failMode !== 'open') {
    throw new InvalidArgumentError('config.failMode', "'closed' or 'open'", input.failMode)
  }
  const holdTtlMs = input.holdTtlMs ?? 10 * 60_000
  if (typeof holdTtlMs !== 'number' || !Number.isInteger(holdTtlMs) || holdTtlMs < 1 || holdTtlMs > 7 * 86_400_000) {
    throw new InvalidArgumentError('config.holdTtlMs', 'an integer number of milliseconds from 1 to 604800000 (7 days)', holdTtlMs)
  }
  if (input.holdExpiry !== undefined && input.holdExpiry !== 'release' && input.holdExpiry !== 'charge') {
    throw new InvalidArgumentError('config.holdExpiry', "'release' or 'charge'", input.holdExpiry)
  }
  const tenantCacheTtlMs = input.tenantCacheTtlMs ?? 1000
  if (typeof tenantCacheTtlMs !== 'number' || !Number.isInteger(tenantCacheTtlMs) || tenantCacheTtlMs < 0 || tenantCacheTtlMs > 3_600_000) {
    throw new InvalidArgumentError('config.tenantCacheTtlMs', 'an integer number of milliseconds from 0 to 3600000', tenantCacheTtlMs)
  }
  const refusalBackoffMs = input.refusalBackoffMs ?? 250
  if (typeof refusalBackoffMs !== 'number' || !Number.isInteger(refusalBackoffMs) || refusalBackoffMs < 0 || refusalBackoffMs > 60_000) {
    throw new InvalidArgumentError('config.refusalBackoffMs', 'an integer number of milliseconds from 0 (off) to 60000', refusalBackoffMs)
  }
  const logger = assertLogger(input.logger)
  const telemetry = new LlmTelemetry(parseTelemetryOptions(input.telemetry), logger)
  const config: LlmConfig = {
    timeZone: validateTimeZone(input.timeZone ?? 'UTC', 'config.timeZone'),
    weekStartsOn: validateWeekStartsOn(input.weekStartsOn ?? 1, 'config.weekStartsOn'),
    now: input.now ?? (() => new Date()),
    budgets: parseBudgets(input.budgets),
    tenantResolver: input.tenantResolver,
    tenantConfigResolver: input.tenantConfigResolver,
    multiTenancy: input.multiTenancy ?? true,
    failMode: input.failMode ?? 'closed',
    holdTtlMs,
    holdExpiry: input.holdExpiry ?? 'release',
    onBudgetEvent: input.onBudgetEvent,
    tenantCacheTtlMs,
    refusalBackoffMs,
    telemetry,
    logger,
    events: createBudgetEvents(),
  }
  Object.defineProperty(config, CONFIG_MARK, { value: true })
  return Object.freeze(config)
}

/** Accepts either an already-defined config (shared as is) or raw options. */
export function toConfig(config: LlmConfig | LlmConfigInput | undefined): LlmConfig {
  if (config && (config as Record<symbol, unknown>)[CONFIG_MARK]) return config as LlmConfig
  return defineLlmConfig(config as LlmConfigInput | undefined)
}
