/**
 * The handler's options and what its routes run on: one key store (verify and manage share its
 * caches, so a revocation over HTTP takes effect at once in this process), the budgets (the
 * runtime's, so status and runs see the same caches), the ledger, execution pages, and the agents
 * the run route may run. Everything is validated when the handler is created, not per request.
 */
import { LlmBudgets } from '../budget/budgets.js'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'
import { createApiKeys, LlmApiKeys, type ApiKeysOptions } from '../keys/api-keys.js'
import { createLedger, type LlmLedger } from '../ledger/ledger.js'
import { createExecutionPages, type LlmExecutionPages } from '../ledger/pages.js'
import type { LlmRuntime } from '../agents/runtime.js'
import type { Agent } from '../agents/types.js'
import type { Caller } from './auth.js'
import { checksBearerToken, type LlmMetricsEndpoint } from '../observability/prometheus.js'
import { DEFAULT_MAX_BODY_BYTES } from './request.js'
import type { Answer } from './reply.js'

export interface LlmHttpOptions {
  /** The tenant API key store (`createApiKeys(prisma, …)`), or its options to create one. */
  apiKeys: LlmApiKeys | ApiKeysOptions
  /** The agent runtime: its budgets and config serve the usage routes; its registry (`runtime.agent(name)`) the run route. */
  runtime?: LlmRuntime
  /** Agents the run route may run, by the name in the URL (checked before the runtime's registry). */
  agents?: Record<string, Agent>
  /** Config (time zone, clock, budgets) when there is no runtime; default: the runtime's. */
  config?: LlmConfig | LlmConfigInput
  /** Where the API is mounted, e.g. '/api/llm' (default '': routes at /v1/…). */
  basePath?: string
  /** Largest request body in bytes (default 1 MiB): a larger one is answered 413 without being read past the limit. */
  maxBodyBytes?: number
  /** Told of every unexpected error (answered 500 without details); default: the config's `logger.error`, else console.error. */
  onError?: (err: unknown, info: { requestId: string; method: string; path: string }) => void
  /**
   * Serves `GET {basePath}/metrics` (Prometheus text format) with this endpoint
   * (`createPrometheusMetrics({ bearerToken }).handler` from `prisma-llm-tenant/observability`).
   * No tenant key is asked for, so the endpoint must have been made with a `bearerToken` (an
   * InvalidArgumentError otherwise): without one, serve it on an internal port instead.
   */
  metrics?: LlmMetricsEndpoint
}

export interface Services {
  config: LlmConfig
  keys: LlmApiKeys
  budgets: LlmBudgets
  ledger: LlmLedger
  pages: LlmExecutionPages
  maxBodyBytes: number
  metrics: LlmMetricsEndpoint | undefined
  /** The agent named in the URL, or undefined. */
  agent(name: string): Agent | undefined
}

/** What a route handler gets: the verified caller, the request and its id. */
export interface RouteContext {
  request: Request
  url: URL
  /** The path's `:id` / `:name` segments, in order. */
  params: string[]
  requestId: string
  caller: Caller
  services: Services
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  /** Below the base path, e.g. '/v1/executions/:id'. */
  path: string
  run(ctx: RouteContext): Promise<Answer>
}

const OPTION_KEYS = ['apiKeys', 'runtime', 'agents', 'config', 'basePath', 'maxBodyBytes', 'onError', 'metrics'] as const

/** '' or '/a/b' (no trailing slash), from what the app passed. */
export function normalizeBasePath(value: unknown): string {
  if (value === undefined || value === '' || value === '/') return ''
  if (typeof value !== 'string' || !/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(value)) {
    throw new InvalidArgumentError('options.basePath', "'' or a path such as '/api/llm' (letters, digits, . _ ~ -)", value)
  }
  return value.replace(/\/$/, '')
}

export function createServices(client: unknown, options: LlmHttpOptions): Services {
  assertQuery(options, OPTION_KEYS, 'options')
  assertClient(client)
  const runtime = options.runtime
  if (runtime !== undefined && (typeof runtime !== 'object' || runtime === null || !(runtime.budgets instanceof LlmBudgets))) {
    throw new InvalidArgumentError('options.runtime', 'an LlmRuntime (createLlmRuntime(prisma, …))', runtime)
  }
  const config = runtime ? runtime.config : toConfig(options.config)
  if (options.apiKeys === undefined) throw new InvalidArgumentError('options.apiKeys', 'an LlmApiKeys (createApiKeys(prisma, …)) or its options', undefined)
  const keys = options.apiKeys instanceof LlmApiKeys ? options.apiKeys : createApiKeys(client, { config, ...options.apiKeys })
  const agents = options.agents ?? {}
  if (typeof agents !== 'object' || agents === null || Array.isArray(agents))
    throw new InvalidArgumentError('options.agents', 'an object of agents by name', agents)
  for (const [name, agent] of Object.entries(agents)) {
    if (typeof agent?.run !== 'function' || typeof agent.stream !== 'function') {
      throw new InvalidArgumentError(`options.agents.${name}`, 'an agent (runtime.defineAgent(…))', agent)
    }
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1 || maxBodyBytes > 100 * 1024 * 1024) {
    throw new InvalidArgumentError('options.maxBodyBytes', 'an integer from 1 to 104857600', maxBodyBytes)
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new InvalidArgumentError('options.onError', 'a function', options.onError)
  if (options.metrics !== undefined && typeof options.metrics !== 'function') {
    throw new InvalidArgumentError('options.metrics', 'a metrics endpoint ((await createPrometheusMetrics({ bearerToken })).handler)', options.metrics)
  }
  if (options.metrics !== undefined && !checksBearerToken(options.metrics)) {
    // The API is public (tenants call it): an open /metrics there would show every tenant's figures.
    throw new InvalidArgumentError(
      'options.metrics',
      'an endpoint made with a bearerToken (createPrometheusMetrics({ bearerToken }) or metricsHandler(reader, { bearerToken }))',
      '(an endpoint without options.bearerToken)',
    )
  }
  return {
    config,
    keys,
    budgets: runtime ? runtime.budgets : new LlmBudgets(client, config),
    ledger: createLedger(client, config),
    pages: createExecutionPages(client, config),
    maxBodyBytes,
    metrics: options.metrics,
    agent(name) {
      if (Object.hasOwn(agents, name)) return agents[name]
      if (!runtime) return undefined
      try {
        return runtime.agent(name)
      } catch {
        return undefined
      }
    },
  }
}
