/**
 * defineAgent: a validated, frozen agent definition (name, provider, model, instructions, limits
 * on output, fallbacks, retries, timeout, circuit breaker, tools). Definitions hold no state and no
 * keys; the runtime binds them to a database, a config and provider endpoints.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { PROVIDERS, type ProviderName, type ToolSpec } from '../providers/types.js'
import type { BreakerOptions } from './breaker.js'

export interface AgentTool extends ToolSpec {
  /** Runs the tool; a string is sent back as is, anything else as JSON. */
  run(args: Record<string, unknown>): unknown | Promise<unknown>
}

export interface AgentOptions {
  name: string
  provider: ProviderName
  model: string
  /** OpenAI only: 'chat' (Chat Completions, default) or 'responses'. */
  api?: 'chat' | 'responses'
  instructions?: string
  /** Cap on output tokens per provider call (also bounds the reservation). Default 1024. */
  maxOutputTokens?: number
  temperature?: number
  /** Tried in order when the model fails (same provider). */
  fallbackModels?: string[]
  /** Retries per model on retryable failures (429, 5xx, timeouts, connection resets). Default 2. */
  retries?: number
  /** First backoff delay; doubles per retry, with jitter; a provider's retry-after wins. Default 250 ms. */
  retryBaseMs?: number
  /** Per provider call. Default 60 s. */
  timeoutMs?: number
  circuitBreaker?: Partial<BreakerOptions>
  tools?: AgentTool[]
  /** Guard on provider calls per run (tool round trips). Default 8. */
  maxSteps?: number
}

export interface AgentDefinition extends Required<Omit<AgentOptions, 'instructions' | 'temperature' | 'circuitBreaker' | 'api'>> {
  api: 'chat' | 'responses'
  instructions?: string
  temperature?: number
  circuitBreaker: BreakerOptions
}

const KEYS = [
  'name',
  'provider',
  'model',
  'api',
  'instructions',
  'maxOutputTokens',
  'temperature',
  'fallbackModels',
  'retries',
  'retryBaseMs',
  'timeoutMs',
  'circuitBreaker',
  'tools',
  'maxSteps',
]

const CIRCUIT_BREAKER_KEYS = ['errors', 'withinSeconds', 'cooldownSeconds']

function int(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `an integer from ${min} to ${max}`, value)
  }
  return value
}

function name(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[\w.:/-]{1,255}$/.test(value))
    throw new InvalidArgumentError(field, 'a name of letters, digits, _ . : / - (1-255 chars)', value)
  return value
}

export function defineAgent(options: AgentOptions): AgentDefinition {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('agent', 'an options object', options)
  for (const key of Object.keys(options)) if (!KEYS.includes(key)) throw new InvalidArgumentError(`agent.${key}`, KEYS.join(', '), key)
  if (!(PROVIDERS as readonly string[]).includes(options.provider)) throw new InvalidArgumentError('agent.provider', PROVIDERS.join(', '), options.provider)
  if (options.api !== undefined && (options.provider !== 'openai' || !['chat', 'responses'].includes(options.api))) {
    throw new InvalidArgumentError('agent.api', "'chat' or 'responses' (OpenAI only)", options.api)
  }
  if (options.temperature !== undefined && (typeof options.temperature !== 'number' || !(options.temperature >= 0 && options.temperature <= 2))) {
    throw new InvalidArgumentError('agent.temperature', 'a number from 0 to 2', options.temperature)
  }
  if (options.instructions !== undefined && typeof options.instructions !== 'string')
    throw new InvalidArgumentError('agent.instructions', 'a string', options.instructions)
  const fallbackModels = options.fallbackModels ?? []
  if (!Array.isArray(fallbackModels)) throw new InvalidArgumentError('agent.fallbackModels', 'an array of model ids', fallbackModels)
  const tools = options.tools ?? []
  if (!Array.isArray(tools)) throw new InvalidArgumentError('agent.tools', 'an array of { name, description, parameters, run }', tools)
  tools.forEach((t, i) => {
    name(t?.name, `agent.tools[${i}].name`)
    if (typeof t.run !== 'function') throw new InvalidArgumentError(`agent.tools[${i}].run`, 'a function', t.run)
    if (typeof t.parameters !== 'object' || t.parameters === null)
      throw new InvalidArgumentError(`agent.tools[${i}].parameters`, 'a JSON Schema object', t.parameters)
  })
  const cb = options.circuitBreaker ?? {}
  if (typeof cb !== 'object' || cb === null || Array.isArray(cb))
    throw new InvalidArgumentError('agent.circuitBreaker', '{ errors?, withinSeconds?, cooldownSeconds? }', cb)
  for (const key of Object.keys(cb)) {
    if (!CIRCUIT_BREAKER_KEYS.includes(key)) throw new InvalidArgumentError(`agent.circuitBreaker.${key}`, CIRCUIT_BREAKER_KEYS.join(', '), key)
  }
  return Object.freeze({
    name: name(options.name, 'agent.name'),
    provider: options.provider,
    model: name(options.model, 'agent.model'),
    api: options.api ?? 'chat',
    instructions: options.instructions,
    maxOutputTokens: int(options.maxOutputTokens, 'agent.maxOutputTokens', 1, 1_000_000, 1024),
    temperature: options.temperature,
    fallbackModels: fallbackModels.map((m, i) => name(m, `agent.fallbackModels[${i}]`)),
    retries: int(options.retries, 'agent.retries', 0, 10, 2),
    retryBaseMs: int(options.retryBaseMs, 'agent.retryBaseMs', 0, 60_000, 250),
    timeoutMs: int(options.timeoutMs, 'agent.timeoutMs', 1, 3_600_000, 60_000),
    circuitBreaker: {
      errors: int(cb.errors, 'agent.circuitBreaker.errors', 1, 1000, 5),
      withinSeconds: int(cb.withinSeconds, 'agent.circuitBreaker.withinSeconds', 1, 86_400, 60),
      cooldownSeconds: int(cb.cooldownSeconds, 'agent.circuitBreaker.cooldownSeconds', 0, 86_400, 30),
    },
    tools,
    maxSteps: int(options.maxSteps, 'agent.maxSteps', 1, 100, 8),
  })
}
