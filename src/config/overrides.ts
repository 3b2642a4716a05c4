/**
 * How a call may name its tenant (`TenantRef`) and the runtime overrides it may carry
 * (`{ id, limits, enforcement, maxConcurrent, agentLimits }`, or what tenantConfigResolver returns),
 * parsed to storage units. The config's resolver options are typed with these.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import {
  assertEnforcement,
  parseAgentLimits,
  parseLimits,
  parseMaxConcurrent,
  type AgentLimitsInput,
  type AgentLimitValues,
  type Enforcement,
  type LimitsInput,
  type LimitValues,
} from './limits.js'
import {
  parseAgentRateLimits,
  parseRateLimits,
  type AgentRateLimitsInput,
  type AgentRateLimitValues,
  type RateLimitsInput,
  type RateLimitValues,
} from './rate-limits.js'

export interface TenantOverride {
  limits?: LimitsInput
  enforcement?: Enforcement | null
  maxConcurrent?: number | null
  agentLimits?: AgentLimitsInput
  /** Requests / tokens per second, minute, hour, day; `null` = no limit. */
  rateLimits?: RateLimitsInput
  agentRateLimits?: AgentRateLimitsInput
}

type TenantOverrideObject = { id: string } & TenantOverride
/** A tenant as a call may name it. `object` covers host records of the app's tenant model. */
export type TenantRef = string | TenantOverrideObject | object

/** An override parsed to storage units; absent keys are `undefined` (fall through to the DB). */
export interface ParsedOverride {
  limits: Partial<LimitValues>
  enforcement?: Enforcement | null
  maxConcurrent?: bigint | null
  agentLimits?: AgentLimitValues
  rateLimits?: RateLimitValues
  agentRateLimits?: AgentRateLimitValues
}

export const OVERRIDE_KEYS = ['limits', 'enforcement', 'maxConcurrent', 'agentLimits', 'rateLimits', 'agentRateLimits'] as const
/** Keys of a `{ id, … }` tenant ref object. */
export const REF_KEYS = new Set<string>(['id', 'name', ...OVERRIDE_KEYS])
export const TENANT_REF_ALLOWED = 'a tenant id string, a host record of the tenant model, or { id, limits?, enforcement?, maxConcurrent? }'

export function parseOverride(input: unknown, field: string): ParsedOverride {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(field, `{ ${OVERRIDE_KEYS.map((k) => `${k}?`).join(', ')} }`, input)
  }
  for (const key of Object.keys(input)) {
    if (!REF_KEYS.has(key)) throw new InvalidArgumentError(`${field}.${key}`, `one of: ${[...REF_KEYS].join(', ')}`, key)
  }
  const o = input as TenantOverride
  const parsed: ParsedOverride = { limits: parseLimits(o.limits, `${field}.limits`) }
  if (o.enforcement !== undefined) parsed.enforcement = assertEnforcement(o.enforcement, `${field}.enforcement`)
  if (o.maxConcurrent !== undefined) parsed.maxConcurrent = parseMaxConcurrent(o.maxConcurrent, `${field}.maxConcurrent`)
  if (o.agentLimits !== undefined) parsed.agentLimits = parseAgentLimits(o.agentLimits, `${field}.agentLimits`)
  if (o.rateLimits !== undefined) parsed.rateLimits = parseRateLimits(o.rateLimits, `${field}.rateLimits`)
  if (o.agentRateLimits !== undefined) parsed.agentRateLimits = parseAgentRateLimits(o.agentRateLimits, `${field}.agentRateLimits`)
  return parsed
}
