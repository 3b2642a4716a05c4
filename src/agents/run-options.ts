/**
 * What a run is given, checked before anything happens: the input messages and the run options
 * (a misspelt `tenant` must not run the call without its tenant and budget), and the runtime's
 * own options.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery, toMetadataJson } from '../foundation/validation.js'
import { PROVIDERS, type ChatMessage } from '../providers/types.js'
import { assertSessionId } from '../sessions/items.js'
import type { AgentInput, RunOptions } from './types.js'

export function normalizeInput(input: AgentInput): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }]
  if (!Array.isArray(input) || input.length === 0) throw new InvalidArgumentError('input', 'a string or a non-empty array of { role, content } messages', input)
  input.forEach((m, i) => {
    if (!m || !['user', 'assistant', 'tool'].includes(m.role) || typeof m.content !== 'string') {
      throw new InvalidArgumentError(`input[${i}]`, "{ role: 'user' | 'assistant' | 'tool', content: string }", m)
    }
  })
  return input.map((m) => ({ ...m }))
}

export const RUNTIME_KEYS = ['config', 'providers', 'pricing', 'tenantApiKeys', 'budgets', 'clientCacheSize', 'sessions']
const RUN_KEYS = ['tenant', 'apiKeys', 'signal', 'traceId', 'parentId', 'apiKeyId', 'session', 'metadata']

/** Throws unless `value` is undefined or a plain object whose keys are all in `keys`. */
export function assertOptions(value: unknown, keys: readonly string[], field: string): void {
  if (value !== undefined) assertQuery(value, keys, field)
}

/** Run options: a misspelt `tenant` must not run the call without its tenant (and budget). */
export function assertRunOptions(opts: RunOptions): void {
  assertOptions(opts, RUN_KEYS, 'options')
  assertOptions(opts.apiKeys, PROVIDERS, 'options.apiKeys')
  for (const [provider, key] of Object.entries(opts.apiKeys ?? {})) {
    if (key !== undefined && typeof key !== 'string') throw new InvalidArgumentError(`options.apiKeys.${provider}`, 'an API key string', '(hidden)')
  }
  const signal = opts.signal as { aborted?: unknown; addEventListener?: unknown } | undefined
  if (signal !== undefined && (typeof signal?.addEventListener !== 'function' || typeof signal.aborted !== 'boolean')) {
    throw new InvalidArgumentError('options.signal', 'an AbortSignal', opts.signal)
  }
  if (opts.metadata !== undefined) toMetadataJson(opts.metadata, 'options.metadata')
  for (const field of ['traceId', 'parentId', 'apiKeyId'] as const) {
    if (opts[field] !== undefined && (typeof opts[field] !== 'string' || opts[field] === ''))
      throw new InvalidArgumentError(`options.${field}`, 'a non-empty string', opts[field])
  }
  if (opts.session !== undefined) assertSessionId(opts.session, 'options.session')
}
