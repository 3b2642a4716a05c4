/**
 * The one shared configuration object. The ledger, the tenant extension and (later) the agent
 * runtime all read the same validated, frozen config, so "which zone is today in" has one answer.
 */
import { validateTimeZone, validateWeekStartsOn, type WeekStartsOn } from './periods/index.js'
import { InvalidArgumentError } from './errors.js'

export interface LlmConfigInput {
  /** IANA zone in which days, weeks and months are computed. Default `UTC`. */
  timeZone?: string
  /** First day of the week, 0 = Sunday … 6 = Saturday. Default 1 (Monday). */
  weekStartsOn?: number
  /** Clock used for named periods and default timestamps. Default `() => new Date()`. */
  now?: () => Date
}

export interface LlmConfig {
  readonly timeZone: string
  readonly weekStartsOn: WeekStartsOn
  readonly now: () => Date
}

const CONFIG_KEYS = ['timeZone', 'weekStartsOn', 'now'] as const

export function defineLlmConfig(input: LlmConfigInput = {}): LlmConfig {
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError('config', 'an object', input)
  for (const key of Object.keys(input)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`config.${key}`, `one of the known keys: ${CONFIG_KEYS.join(', ')}`, key)
    }
  }
  if (input.now !== undefined && typeof input.now !== 'function') {
    throw new InvalidArgumentError('config.now', 'a function returning a Date', input.now)
  }
  return Object.freeze({
    timeZone: validateTimeZone(input.timeZone ?? 'UTC', 'config.timeZone'),
    weekStartsOn: validateWeekStartsOn(input.weekStartsOn ?? 1, 'config.weekStartsOn'),
    now: input.now ?? (() => new Date()),
  })
}

/** Accepts either an already-defined config or raw options. */
export function toConfig(config: LlmConfig | LlmConfigInput | undefined): LlmConfig {
  if (config && Object.isFrozen(config) && 'timeZone' in config && 'weekStartsOn' in config && 'now' in config) {
    return config as LlmConfig
  }
  return defineLlmConfig(config as LlmConfigInput | undefined)
}
