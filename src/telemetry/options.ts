/**
 * The config's `telemetry` and `logger` options, validated once in defineLlmConfig. Telemetry goes
 * through `@opentelemetry/api` only: with no SDK registered (and no provider given here) every span
 * and instrument is the API's no-op, so an app that does not observe pays almost nothing.
 *
 * The tenant attribute is opt-in, and on metrics never unbounded: a tenant id per series is the
 * classic cardinality blow-up of LLM gateways, so metrics carry either an allowlist of tenants or
 * the top N by spend, everything else folded into `other` (tenant-labels.ts).
 */
import type { MeterProvider, TracerProvider } from '@opentelemetry/api'
import { InvalidArgumentError } from '../foundation/errors.js'
import { redactMetadata, redactText } from '../foundation/redact.js'

/**
 * Whether spans and metrics name the tenant (`llm_tenant.tenant.id`):
 * - `'off'` (default): nowhere;
 * - `'spans'`: on spans only (a trace is one request: no cardinality cost, but the id is exposed);
 * - `{ allowlist: ['acme', …] }`: spans, and metrics for these tenants (others as `other`);
 * - `{ topN: 20 }`: spans, and metrics for this process's top N tenants by spend (others as `other`).
 */
export type TenantAttributeOption = 'off' | 'spans' | { allowlist: readonly string[] } | { topN: number }

export interface TelemetryOptions {
  /** Where spans go. Default: the global provider (`trace.setGlobalTracerProvider`, or your SDK's registration). */
  tracerProvider?: TracerProvider
  /** Where metrics go. Default: the global provider, looked up again until one is registered. */
  meterProvider?: MeterProvider
  /** Whether spans and metrics name the tenant, and how metrics bound it. Default `'off'`. */
  tenantAttribute?: TenantAttributeOption
  /**
   * Most distinct values of `gen_ai.request.model` / `gen_ai.response.model` and of
   * `llm_tenant.agent_type` on metrics, per config: the first ones seen keep their label, every
   * later one is `_OTHER` (models come from call input, agent types from tenants' configs).
   * Integer 1 … 1000; default 100.
   */
  labelLimit?: number
}

/**
 * A pino-compatible logger (pino, bunyan-style or `console`-backed): the library's warnings and
 * errors go here as `(fields, message)`, with secrets redacted. `info` and `debug` are optional.
 */
export interface LlmLogger {
  warn(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
  info?(obj: Record<string, unknown>, msg?: string): void
  debug?(obj: Record<string, unknown>, msg?: string): void
}

/** The validated telemetry options. */
export interface ResolvedTelemetryOptions {
  tracerProvider: TracerProvider | undefined
  meterProvider: MeterProvider | undefined
  tenant: { spans: boolean; metrics: 'off' | { allowlist: ReadonlySet<string> } | { topN: number } }
  labelLimit: number
}

const TELEMETRY_KEYS = ['tracerProvider', 'meterProvider', 'tenantAttribute', 'labelLimit']
const DEFAULT_LABEL_LIMIT = 100
/** Each tenant value is a series per combination of the other attributes; the SDK's default stream limit is 2,000. */
const MAX_TENANT_VALUES = 1000
const TENANT_ATTRIBUTE_ALLOWED = `'off', 'spans', { allowlist: string[] } (1 to ${MAX_TENANT_VALUES} tenant ids) or { topN: number } (an integer from 1 to ${MAX_TENANT_VALUES})`

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseTenantAttribute(value: unknown): ResolvedTelemetryOptions['tenant'] {
  const field = 'config.telemetry.tenantAttribute'
  if (value === undefined || value === 'off') return { spans: false, metrics: 'off' }
  if (value === 'spans') return { spans: true, metrics: 'off' }
  if (!isObject(value)) throw new InvalidArgumentError(field, TENANT_ATTRIBUTE_ALLOWED, value)
  const keys = Object.keys(value)
  if (keys.length !== 1 || (keys[0] !== 'allowlist' && keys[0] !== 'topN')) throw new InvalidArgumentError(field, TENANT_ATTRIBUTE_ALLOWED, keys.join(', '))
  if ('topN' in value) {
    const n = value.topN
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_TENANT_VALUES) {
      throw new InvalidArgumentError(`${field}.topN`, `an integer from 1 to ${MAX_TENANT_VALUES}`, n)
    }
    return { spans: true, metrics: { topN: n } }
  }
  const list = value.allowlist
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TENANT_VALUES) {
    throw new InvalidArgumentError(`${field}.allowlist`, `an array of 1 to ${MAX_TENANT_VALUES} tenant ids`, list)
  }
  list.forEach((id, i) => {
    if (typeof id !== 'string' || id === '' || id.length > 191)
      throw new InvalidArgumentError(`${field}.allowlist[${i}]`, 'a tenant id (a non-empty string)', id)
  })
  return { spans: true, metrics: { allowlist: new Set(list as string[]) } }
}

/** Validates `config.telemetry` (bad input: InvalidArgumentError naming the field and what is allowed). */
export function parseTelemetryOptions(input: unknown): ResolvedTelemetryOptions {
  if (input === undefined)
    return { tracerProvider: undefined, meterProvider: undefined, tenant: parseTenantAttribute(undefined), labelLimit: DEFAULT_LABEL_LIMIT }
  if (!isObject(input)) throw new InvalidArgumentError('config.telemetry', `an object with ${TELEMETRY_KEYS.join(', ')}`, input)
  for (const key of Object.keys(input)) {
    if (!TELEMETRY_KEYS.includes(key)) throw new InvalidArgumentError(`config.telemetry.${key}`, `one of the known keys: ${TELEMETRY_KEYS.join(', ')}`, key)
  }
  const { tracerProvider, meterProvider } = input as TelemetryOptions
  if (tracerProvider !== undefined && typeof (tracerProvider as { getTracer?: unknown })?.getTracer !== 'function') {
    throw new InvalidArgumentError('config.telemetry.tracerProvider', 'an OpenTelemetry TracerProvider (with getTracer)', tracerProvider)
  }
  if (meterProvider !== undefined && typeof (meterProvider as { getMeter?: unknown })?.getMeter !== 'function') {
    throw new InvalidArgumentError('config.telemetry.meterProvider', 'an OpenTelemetry MeterProvider (with getMeter)', meterProvider)
  }
  const labelLimit = input.labelLimit ?? DEFAULT_LABEL_LIMIT
  if (typeof labelLimit !== 'number' || !Number.isInteger(labelLimit) || labelLimit < 1 || labelLimit > MAX_TENANT_VALUES) {
    throw new InvalidArgumentError('config.telemetry.labelLimit', `an integer from 1 to ${MAX_TENANT_VALUES}`, labelLimit)
  }
  return { tracerProvider, meterProvider, tenant: parseTenantAttribute(input.tenantAttribute), labelLimit }
}

/** Validates `config.logger`: an object with `warn` and `error` functions (`info`, `debug` optional). */
export function assertLogger(value: unknown): LlmLogger | undefined {
  if (value === undefined) return undefined
  const allowed = 'a pino-compatible logger: { warn(obj, msg?), error(obj, msg?), info?, debug? }'
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError('config.logger', allowed, value)
  const logger = value as Record<string, unknown>
  for (const level of ['warn', 'error'] as const) {
    if (typeof logger[level] !== 'function') throw new InvalidArgumentError(`config.logger.${level}`, allowed, logger[level])
  }
  for (const level of ['info', 'debug'] as const) {
    if (logger[level] !== undefined && typeof logger[level] !== 'function')
      throw new InvalidArgumentError(`config.logger.${level}`, 'a function', logger[level])
  }
  return value as LlmLogger
}

/** An error as log fields: its class, code and redacted message (never the object: it may carry a request with a key). */
export function errorFields(err: unknown): Record<string, unknown> {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null
  return {
    errorClass: typeof e?.name === 'string' ? e.name : 'Error',
    ...(typeof e?.code === 'string' ? { errorCode: e.code } : {}),
    errorMessage: redactText(String(e?.message ?? err)).slice(0, 2000),
  }
}

/**
 * Writes one entry to the app's logger, fields redacted. A logger that throws must not fail the
 * call that logs (settles and refusals log on the hot path), so its error is dropped.
 */
export function logTo(logger: LlmLogger | undefined, level: keyof LlmLogger, fields: Record<string, unknown>, msg: string): void {
  const write = logger?.[level]
  if (!write) return
  try {
    write.call(logger, redactMetadata({ library: 'prisma-llm-tenant', ...fields }) as Record<string, unknown>, msg)
  } catch {
    // the logger's own failure is not the call's
  }
}
