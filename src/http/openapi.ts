/**
 * The OpenAPI 3.1 document of the API, served at `GET {base}/openapi.json` (no key needed): every
 * route, its parameters with their allowed values, its request body, and every status it answers
 * with, each with its schema (openapi-schemas.ts) and headers. Built from the same constants the
 * routes validate with (periods, statuses, rate-limit names), so the two cannot drift apart;
 * test/http/openapi.test.ts checks real answers of every route against it.
 */
import { PERIOD_NAMES } from '../foundation/periods.js'
import { EXECUTION_STATUSES } from '../ledger/types.js'
import { SCHEMAS } from './openapi-schemas.js'

type Obj = Record<string, unknown>

const json = (schema: string): Obj => ({ 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } })
const header = (name: string): Obj => ({ $ref: `#/components/headers/${name}` })
const ok = (description: string, schema: string, extra: Obj = {}): Obj => ({
  description,
  headers: { 'x-request-id': header('RequestId') },
  content: json(schema),
  ...extra,
})
const fail = (description: string, headers: Obj = {}): Obj => ({
  description,
  headers: { 'x-request-id': header('RequestId'), ...headers },
  content: json('Error'),
})

const ERRORS: Record<string, Obj> = {
  400: fail('Bad input: `error.param` names the field or query parameter, `error.allowed` what it accepts'),
  401: fail('No API key, or one that is malformed or unknown', { 'www-authenticate': header('WwwAuthenticate') }),
  403: fail('The API key is revoked or expired, or its tenant is deactivated'),
  404: fail('No such resource — also for an id of another tenant'),
  409: fail('The API key is already revoked'),
  413: fail('The request body is larger than the limit'),
  429: fail('A rate window or a hard budget refused the call', {
    'retry-after': header('RetryAfter'),
    'ratelimit-policy': header('RateLimitPolicy'),
    ratelimit: header('RateLimit'),
  }),
  500: fail('Unexpected error (no details are sent; the request id finds it in the logs)'),
  502: fail("The agent's provider failed"),
  503: fail('The agent cannot run right now (circuit breaker open, admission undecided, provider not configured)'),
}
const errors = (...codes: number[]) => Object.fromEntries([401, 403, 500, ...codes].sort().map((c) => [String(c), ERRORS[c]]))

const query = (name: string, description: string, schema: Obj): Obj => ({ name, in: 'query', required: false, description, schema })
const pathParam = (name: string, description: string): Obj => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })
const period = query('period', 'The calendar period, in the configured time zone (default this_month)', { type: 'string', enum: [...PERIOD_NAMES] })

function grouped(by: string, schema: string): Obj {
  return {
    get: {
      operationId: `usageBy${by}`,
      summary: `Usage per ${by.toLowerCase()} for a period`,
      parameters: [period],
      responses: { 200: ok('Usage groups', schema), ...errors(400) },
    },
  }
}

function paths(): Obj {
  return {
    '/v1/usage': {
      get: {
        operationId: 'getUsage',
        summary: "The tenant's cost, tokens and executions for a period, its budgets, rate windows and plan",
        parameters: [period],
        responses: { 200: ok('Usage', 'Usage'), ...errors(400) },
      },
    },
    '/v1/usage/daily': {
      get: {
        operationId: 'getDailyUsage',
        summary: 'Usage per zone-local day, zero-filled (from and to included, at most 366 days; default the last 30)',
        parameters: [
          query('from', 'First day, YYYY-MM-DD', { type: 'string', format: 'date' }),
          query('to', 'Last day, YYYY-MM-DD (default today)', { type: 'string', format: 'date' }),
        ],
        responses: { 200: ok('Daily usage', 'DailyUsage'), ...errors(400) },
      },
    },
    '/v1/usage/by-agent': grouped('Agent', 'UsageByAgent'),
    '/v1/usage/by-model': grouped('Model', 'UsageByModel'),
    '/v1/usage/by-key': grouped('Key', 'UsageByKey'),
    '/v1/executions': {
      get: {
        operationId: 'listExecutions',
        summary: "The tenant's executions, newest first, in keyset pages (refused calls only with status=refused)",
        parameters: [
          query('status', 'Only this status', { type: 'string', enum: [...EXECUTION_STATUSES] }),
          query('agent', 'Only this agent type', { type: 'string', minLength: 1, maxLength: 255 }),
          query('limit', 'Page size (default 20)', { type: 'integer', minimum: 1, maximum: 100 }),
          query('cursor', 'The nextCursor of the previous page', { type: 'string' }),
        ],
        responses: { 200: ok('A page of executions', 'ExecutionPage'), ...errors(400) },
      },
    },
    '/v1/executions/{id}': {
      get: {
        operationId: 'getExecution',
        summary: 'One execution of the tenant',
        parameters: [pathParam('id', 'The execution id')],
        responses: { 200: ok('The execution', 'Execution'), ...errors(400, 404) },
      },
    },
    '/v1/api-keys': {
      get: { operationId: 'listApiKeys', summary: "The tenant's API keys (never a secret)", responses: { 200: ok('The keys', 'ApiKeyList'), ...errors(400) } },
      post: {
        operationId: 'createApiKey',
        summary: 'Issues a key for the tenant; the secret is in the answer, this once (audited, the calling key as actor)',
        requestBody: { required: true, content: json('CreateApiKey') },
        responses: { 201: ok('The key and its secret', 'IssuedApiKey'), ...errors(400, 413) },
      },
    },
    '/v1/api-keys/{id}': {
      delete: {
        operationId: 'revokeApiKey',
        summary: 'Revokes a key of the tenant now (audited)',
        parameters: [pathParam('id', 'The key id')],
        responses: { 200: ok('The revoked key', 'RevokedApiKey'), ...errors(400, 404, 409) },
      },
    },
    '/v1/api-keys/{id}/rotate': {
      post: {
        operationId: 'rotateApiKey',
        summary: 'Gives the key a new secret (returned once); the old one works for gracePeriod (audited)',
        parameters: [pathParam('id', 'The key id')],
        requestBody: { required: false, content: json('RotateApiKey') },
        responses: { 200: ok('The key and its new secret', 'RotatedApiKey'), ...errors(400, 404, 409, 413) },
      },
    },
    '/v1/agents/{name}/run': {
      post: {
        operationId: 'runAgent',
        summary: 'Runs the agent for the tenant; with stream: true answers Server-Sent Events (delta…, then done or error)',
        parameters: [pathParam('name', 'The agent name')],
        requestBody: { required: true, content: json('RunRequest') },
        responses: {
          200: {
            description: 'The answer (JSON), or with stream: true an event stream of StreamDelta, then StreamDone or StreamError events',
            headers: { 'x-request-id': header('RequestId') },
            content: {
              ...json('RunResult'),
              'text/event-stream': { schema: { type: 'string', description: 'event: delta | done | error; data: StreamDelta | StreamDone | StreamError' } },
            },
          },
          ...errors(400, 404, 413, 429, 502, 503),
        },
      },
    },
  }
}

const COMPONENT_HEADERS: Obj = {
  RequestId: { description: 'The request id; also in error bodies, the audit events and the ledger rows the request wrote', schema: { type: 'string' } },
  RetryAfter: { description: 'Whole seconds until a retry can pass (rounded up)', schema: { type: 'integer', minimum: 1 } },
  RateLimitPolicy: { description: 'The windows that apply (IETF draft), e.g. "requests-minute";q=60;w=60', schema: { type: 'string' } },
  RateLimit: { description: 'What remains of each window and when it is full again, e.g. "requests-minute";r=0;t=12', schema: { type: 'string' } },
  WwwAuthenticate: { description: 'Bearer challenge', schema: { type: 'string' } },
}

/** The document for a handler mounted at `basePath`. */
export function openApiDocument(basePath: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'prisma-llm-tenant HTTP API',
      version: '1',
      description: 'Usage, API keys and agent runs of one tenant: the tenant is always the one of the API key.',
    },
    servers: [{ url: basePath === '' ? '/' : basePath }],
    security: [{ bearerKey: [] }, { headerKey: [] }],
    paths: paths(),
    components: {
      schemas: SCHEMAS,
      headers: COMPONENT_HEADERS,
      securitySchemes: {
        bearerKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <tenant API key>' },
        headerKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      },
    },
  }
}
