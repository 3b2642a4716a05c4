/**
 * The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every body the API sends and takes —
 * the shapes serialize.ts and errors.ts produce. test/http/openapi.test.ts validates real answers
 * against them, so a field added to an answer without its schema (or the reverse) fails a test.
 * Objects are closed (`additionalProperties: false`) wherever the API controls every field.
 */
import { EXECUTION_STATUSES } from '../ledger/types.js'
import { ENFORCEMENTS, LIMIT_TYPES } from '../config/limits.js'
import { RATE_LIMIT_KEYS, RATE_MEASURES, RATE_WINDOWS } from '../config/rate-limits.js'
import { PERIOD_NAMES } from '../foundation/periods.js'

type Schema = Record<string, unknown>

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra })
const closed = (properties: Record<string, Schema>, optional: string[] = []): Schema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  additionalProperties: false,
})
const instant: Schema = { type: 'string', format: 'date-time' }
const money: Schema = { type: 'string', pattern: '^\\d+(\\.\\d+)?$', description: 'Exact US dollars as a decimal string' }
const count: Schema = { type: 'integer', minimum: 0 }
const figures = { cost: money, tokens: count, executions: count }
const SOURCES = ['override', 'resolver', 'tenant', 'plan', 'global', 'api_key']
const SCOPES = ['tenant', 'global', 'agent', 'api_key']
const STATUS_LIMIT_TYPES = [...LIMIT_TYPES, 'maxConcurrent']
const moneyOrCount: Schema = { oneOf: [money, count] }

const limitStatus = closed({
  limit: { oneOf: [money, count, { type: 'null' }] },
  used: moneyOrCount,
  reserved: moneyOrCount,
  remaining: { oneOf: [money, count, { type: 'null' }] },
  percentage: nullable('number'),
  enforcement: { type: 'string', enum: [...ENFORCEMENTS] },
  source: { oneOf: [{ type: 'string', enum: SOURCES }, { type: 'null' }] },
})

const limitsOfKey = closed(Object.fromEntries(LIMIT_TYPES.map((t) => [t, t.endsWith('Cost') ? { oneOf: [money, { type: 'null' }] } : nullable('integer')])))

const apiKey = closed({
  id: { type: 'string' },
  name: { type: 'string' },
  start: { type: 'string', description: 'The visible beginning of the secret' },
  createdAt: instant,
  expiresAt: nullable('string', { format: 'date-time' }),
  revokedAt: nullable('string', { format: 'date-time' }),
  lastUsedAt: nullable('string', { format: 'date-time' }),
  limits: limitsOfKey,
  rateLimits: { type: 'object', propertyNames: { enum: RATE_LIMIT_KEYS }, additionalProperties: nullable('integer') },
  metadata: { type: ['object', 'null'] },
})

const usage = closed({ inputTokens: count, outputTokens: count, cachedInputTokens: count, cacheWriteTokens: count, reasoningTokens: count })
const runResult = {
  text: { type: 'string' },
  model: { type: 'string' },
  usage,
  cost: money,
  executionId: { type: 'string' },
  traceId: { type: 'string' },
  steps: { type: 'integer', minimum: 1 },
}

const errorBody = closed({
  error: {
    type: 'object',
    required: ['type', 'message', 'requestId'],
    properties: {
      type: {
        type: 'string',
        description: 'e.g. missing_api_key, invalid_api_key, api_key_revoked, not_found, invalid_request, rate_limited, budget_exceeded',
      },
      message: { type: 'string' },
      requestId: { type: 'string', pattern: '^req_[0-9a-f]{32}$' },
      code: { type: 'string', description: "The library error's code, e.g. RATE_LIMITED" },
      param: { type: 'string', description: 'The offending field or query parameter (400)' },
      allowed: { type: 'string', description: 'What the parameter accepts (400, 405)' },
      limit: { oneOf: [money, count], description: '429: the refusing limit (dollars or a count)' },
      limitType: { type: 'string', description: '429: requests or tokens (rate_limited); dailyCost, monthlyTokens, … (budget_exceeded)' },
      limitName: { type: 'string', enum: RATE_LIMIT_KEYS },
      window: { oneOf: [{ type: 'string', enum: [...RATE_WINDOWS, 'month'] }, { type: 'null' }] },
      retryAfter: { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }], description: 'Whole seconds, rounded up; null when waiting cannot help' },
      scope: { type: 'string', enum: SCOPES },
      current: moneyOrCount,
      resetsAt: nullable('string', { format: 'date-time' }),
      provider: { type: 'string' },
      model: { type: 'string' },
      providerStatus: nullable('integer'),
      status: { type: 'integer', description: 'In a stream error event: the status the error would have had' },
    },
    additionalProperties: false,
  },
})

export const SCHEMAS: Record<string, Schema> = {
  Error: errorBody,
  Period: closed({ name: { type: 'string', enum: [...PERIOD_NAMES, 'custom'] }, from: instant, to: instant, timeZone: { type: 'string' } }),
  LimitStatus: limitStatus,
  RateWindow: closed({
    name: { type: 'string', enum: RATE_LIMIT_KEYS },
    scope: { type: 'string', enum: SCOPES },
    measure: { type: 'string', enum: [...RATE_MEASURES] },
    window: { type: 'string', enum: [...RATE_WINDOWS] },
    limit: count,
    remaining: count,
    resetsAt: instant,
    source: { type: 'string', enum: SOURCES },
  }),
  Usage: closed({
    tenantId: { type: 'string' },
    period: ref('Period'),
    ...figures,
    enforcement: { type: 'string', enum: [...ENFORCEMENTS] },
    budgets: closed(Object.fromEntries(STATUS_LIMIT_TYPES.map((t) => [t, ref('LimitStatus')]))),
    rateLimits: { type: 'array', items: ref('RateWindow') },
    plan: { oneOf: [closed({ key: { type: 'string' }, version: { type: 'integer' }, name: { type: 'string' } }), { type: 'null' }] },
  }),
  DailyUsage: closed({
    tenantId: { type: 'string' },
    timeZone: { type: 'string' },
    from: { type: 'string', format: 'date' },
    to: { type: 'string', format: 'date' },
    data: { type: 'array', items: closed({ date: { type: 'string', format: 'date' }, ...figures }) },
  }),
  UsageByAgent: closed({
    tenantId: { type: 'string' },
    period: ref('Period'),
    data: { type: 'array', items: closed({ agentType: { type: 'string' }, ...figures }) },
  }),
  UsageByModel: closed({
    tenantId: { type: 'string' },
    period: ref('Period'),
    data: { type: 'array', items: closed({ model: { type: 'string' }, ...figures }) },
  }),
  UsageByKey: closed({
    tenantId: { type: 'string' },
    period: ref('Period'),
    data: { type: 'array', items: closed({ apiKeyId: nullable('string'), name: nullable('string'), ...figures }) },
  }),
  Execution: closed({
    id: { type: 'string' },
    agentType: { type: 'string' },
    provider: nullable('string'),
    model: { type: 'string' },
    status: { type: 'string', enum: [...EXECUTION_STATUSES] },
    inputTokens: count,
    outputTokens: count,
    cachedInputTokens: count,
    totalTokens: count,
    inputCost: money,
    outputCost: money,
    totalCost: money,
    durationMs: nullable('integer'),
    startedAt: instant,
    completedAt: nullable('string', { format: 'date-time' }),
    errorClass: nullable('string'),
    errorMessage: nullable('string'),
    traceId: nullable('string'),
    parentId: nullable('string'),
    apiKeyId: nullable('string'),
    metadata: { type: ['object', 'null'] },
  }),
  ExecutionPage: closed({ data: { type: 'array', items: ref('Execution') }, nextCursor: nullable('string') }),
  ApiKey: apiKey,
  ApiKeyList: closed({ data: { type: 'array', items: ref('ApiKey') } }),
  IssuedApiKey: closed({ key: ref('ApiKey'), secret: { type: 'string', description: 'The raw key: shown this once, never stored' } }),
  RotatedApiKey: closed({ key: ref('ApiKey'), secret: { type: 'string' }, previousSecretRetiresAt: instant }),
  RevokedApiKey: closed({ key: ref('ApiKey') }),
  CreateApiKey: closed(
    {
      name: { type: 'string', minLength: 1, maxLength: 100 },
      expiresAt: nullable('string', { format: 'date-time' }),
      limits: { type: ['object', 'null'], description: 'dailyCost, monthlyCost (dollars), dailyTokens, monthlyTokens, dailyExecutions, monthlyExecutions' },
      rateLimits: { type: ['object', 'null'], propertyNames: { enum: RATE_LIMIT_KEYS } },
      metadata: { type: ['object', 'null'] },
    },
    ['expiresAt', 'limits', 'rateLimits', 'metadata'],
  ),
  RotateApiKey: closed(
    {
      gracePeriod: {
        oneOf: [
          { type: 'integer', minimum: 0 },
          { type: 'string', pattern: '^\\d{1,7}(ms|s|m|h|d)$' },
        ],
      },
    },
    ['gracePeriod'],
  ),
  RunRequest: closed(
    {
      input: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', minItems: 1, items: closed({ role: { type: 'string', enum: ['user', 'assistant'] }, content: { type: 'string' } }) },
        ],
      },
      stream: { type: 'boolean' },
    },
    ['stream'],
  ),
  RunResult: closed(runResult),
  StreamDelta: closed({ type: { const: 'delta' }, text: { type: 'string' } }),
  StreamDone: closed({ type: { const: 'done' }, ...runResult }),
  StreamError: closed({ type: { const: 'error' }, error: errorBody.properties ? (errorBody.properties as Record<string, Schema>).error : {} }),
}
