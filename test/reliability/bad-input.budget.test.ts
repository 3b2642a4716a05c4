/**
 * Bad input, table-driven (part 2: budgets, the llmTenant() extension and its record/static methods,
 * the agent runtime against the provider emulator). Same rules as bad-input.test.ts: a typed error
 * naming the field and the allowed values, and nothing written — except where the caller's function
 * ran or a provider answered: that call is recorded (settled, no open hold), never dropped.
 */
import { afterAll, beforeAll, describe, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import {
  AllModelsExhaustedError,
  LlmBudgets,
  ProviderError,
  TenantStore,
  UnknownModelError,
  createLlmRuntime,
  defineAgent,
  llmTenant,
  withTenant,
  type LlmRuntime,
  type TrackCall,
} from '../../src/index.ts'
import { ProviderEmulator, type Scenario } from '../../src/testing/index.ts'
import {
  ALLOWED,
  COST_BAD,
  ENFORCEMENT_BAD,
  MAX_CONCURRENT_BAD,
  REVERSED_RANGE,
  TENANT_BAD,
  ZONE_BAD,
  expectRefused,
  limitCases,
  type BadInput,
} from './bad-input.rows.ts'

const ORG_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
}
const extend = (db: TestDatabase, options: Record<string, unknown> = {}) =>
  db.client.$extends(llmTenant({ model: 'organization', id: 'slug', name: 'displayName', budget: true, apiKeys: { openai: 'openaiApiKey' }, ...options }))
type Prisma = ReturnType<typeof extend>
type Org = Awaited<ReturnType<Prisma['organization']['findUniqueOrThrow']>>

interface Ctx {
  db: TestDatabase
  budgets: LlmBudgets
  prisma: Prisma
  /** Host record with its tenant row; `legacy` has none yet (created on first use). */
  org: Org
  legacy: Org
  runtime: LlmRuntime
}

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const call: TrackCall = { agentType: 'Writer', model: 'gpt-4o' }
const ok = async () => 'provider called'
type Row = BadInput<Ctx>
const rows: Row[] = []
const add = (name: string, field: string, allowed: RegExp, run: Row['run'], extra: Partial<Row> = {}) => rows.push({ name, field, allowed, run, ...extra })
const tenantAllowed = (label: string) => (label === "''" ? ALLOWED.id : ALLOWED.tenant)

// ── LlmBudgets.track: the call, its estimate, its tenant ──
add("track call with unknown key 'estimat'", 'call.estimat', /agentType, model, provider, estimate/, (c) =>
  c.budgets.track('acme', { ...call, estimat: { cost: 1 } } as never, ok),
)
for (const [label, value] of [
  ['-1', -1],
  ['NaN', NaN],
  ['1.5', 1.5],
  ["'5'", '5'],
  ['2**53 (beyond safe integer)', 2 ** 53],
  ['Infinity', Infinity],
] as Array<[string, unknown]>) {
  add(`track estimate.tokens = ${label}`, 'call.estimate.tokens', ALLOWED.tokens, (c) =>
    c.budgets.track('acme', { ...call, estimate: { tokens: value as number } }, ok),
  )
}
for (const [label, value] of COST_BAD)
  add(`track estimate.cost = ${label}`, 'call.estimate.cost', ALLOWED.cost, (c) =>
    c.budgets.track('acme', { ...call, estimate: { cost: value as string } }, ok),
  )
add("track agentType = ''", 'call.agentType', ALLOWED.id, (c) => c.budgets.track('acme', { ...call, agentType: '' }, ok))
add('track model = 42', 'call.model', ALLOWED.id, (c) => c.budgets.track('acme', { ...call, model: 42 as never }, ok))
add('track call = null', 'call', /agentType, model/, (c) => c.budgets.track('acme', null as never, ok))
add("track fn = 'x'", 'fn', /async function/, (c) => c.budgets.track('acme', call, 'x' as never))
for (const [label, value] of TENANT_BAD) {
  const allowed = tenantAllowed(label)
  add(`track tenant = ${label}`, 'tenant', allowed, (c) => c.budgets.track(value as string, call, ok))
  add(`withTenant(${label}) around track`, 'tenant', allowed, (c) => withTenant(value as string, () => c.budgets.track(undefined, call, ok)))
  add(`tenantResolver returning ${label}`, 'tenantResolver()', allowed, (c) =>
    new LlmBudgets(c.db.client, { tenantResolver: () => value as string }).track(undefined, call, ok),
  )
  add(`status(${label})`, 'tenant', allowed, (c) => c.budgets.status(value as string))
  add(`withinBudget(${label})`, 'tenant', allowed, (c) => c.budgets.withinBudget(value as string))
  add(`remainingBudget(${label})`, 'tenant', allowed, (c) => c.budgets.remainingBudget(value as string))
  add(`checkBudget(${label})`, 'tenant', allowed, (c) => c.budgets.checkBudget(value as string))
  add(`$llm.track tenant = ${label}`, 'tenant', allowed, (c) => c.prisma.$llm.track(value as string, call, ok))
  add(`agent.run tenant = ${label}`, 'tenant', allowed, (c) =>
    c.runtime.defineAgent({ name: 'Runner', provider: 'openai', model: 'gpt-4o-mini' }).run('hi', { tenant: value as string }),
  )
}
add('refreshCounters tenantId = 42', 'tenantId', ALLOWED.id, (c) => c.budgets.refreshCounters({ tenantId: 42 as never }))
add("withinBudget type = 'weekly'", 'type', /dailyCost, .*maxConcurrent/, (c) => c.budgets.withinBudget('acme', { type: 'weekly' as never }))
add("remainingBudget type = 'weekly'", 'type', /dailyCost, .*maxConcurrent/, (c) => c.budgets.remainingBudget('acme', { type: 'weekly' as never }))
for (const [label, value] of ZONE_BAD)
  add(`new LlmBudgets(client, { timeZone: ${label} })`, 'config.timeZone', ALLOWED.zone, (c) => new LlmBudgets(c.db.client, { timeZone: value as string }))

// ── Limits given per call ({ id, limits } override) and by tenantConfigResolver ──
for (const { type, label, value, allowed } of limitCases()) {
  add(`track override limits.${type} = ${label}`, `tenant.limits.${type}`, allowed, (c) => c.budgets.track({ id: 'acme', limits: { [type]: value } }, call, ok))
  add(`tenantConfigResolver limits.${type} = ${label}`, `tenantConfigResolver().limits.${type}`, allowed, (c) =>
    new LlmBudgets(c.db.client, { tenantConfigResolver: () => ({ limits: { [type]: value } }) }).track('acme', call, ok),
  )
}
for (const [label, value] of MAX_CONCURRENT_BAD)
  add(`track override maxConcurrent = ${label}`, 'tenant.maxConcurrent', ALLOWED.maxConcurrent, (c) =>
    c.budgets.track({ id: 'acme', maxConcurrent: value as number }, call, ok),
  )
for (const [label, value] of ENFORCEMENT_BAD)
  add(`track override enforcement = ${label}`, 'tenant.enforcement', ALLOWED.enforcement, (c) =>
    c.budgets.track({ id: 'acme', enforcement: value as never }, call, ok),
  )
for (const [label, value] of COST_BAD) {
  add(`track override agentLimits.Writer.dailyCost = ${label}`, 'tenant.agentLimits.Writer.dailyCost', ALLOWED.cost, (c) =>
    c.budgets.track({ id: 'acme', agentLimits: { Writer: { dailyCost: value as string } } }, call, ok),
  )
}

// ── reportUsage with negative / huge / unknown figures: refused; the call (its function ran) is recorded, charged its reservation ──
const reserved = { cost: '0.25', tokens: 7 }
const usageWrites = { executions: 1, status: 'error', errorClass: 'InvalidArgumentError', tokens: 7, costNanos: '250000000' }
const USAGE_BAD: Array<[string, string, Record<string, unknown>, RegExp]> = [
  ['inputTokens = -5', 'usage.inputTokens', { inputTokens: -5 }, /integer from 0 to 2147483647/],
  ['outputTokens = -1', 'usage.outputTokens', { outputTokens: -1 }, /integer from 0 to 2147483647/],
  ['cachedInputTokens = -1', 'usage.cachedInputTokens', { cachedInputTokens: -1 }, /integer from 0 to 2147483647/],
  ['totalTokens = -1', 'usage.totalTokens', { totalTokens: -1 }, /integer from 0 to 2147483647/],
  ['inputTokens = 2**31 (beyond INTEGER)', 'usage.inputTokens', { inputTokens: 2 ** 31 }, /integer from 0 to 2147483647/],
  ['outputTokens = 1e20', 'usage.outputTokens', { outputTokens: 1e20 }, /integer from 0 to 2147483647/],
  ['inputCost = -1', 'usage.inputCost', { inputCost: -1 }, ALLOWED.cost],
  ['outputCost = NaN', 'usage.outputCost', { outputCost: NaN }, ALLOWED.cost],
  ["inputCost = '1e400'", 'usage.inputCost', { inputCost: '1e400' }, ALLOWED.cost],
  ["outputCost = 'abc'", 'usage.outputCost', { outputCost: 'abc' }, ALLOWED.cost],
  ['unknown key tokens', 'usage.tokens', { tokens: 5 }, /inputTokens, outputTokens/],
  ["model = ''", 'usage.model', { model: '' }, ALLOWED.id],
]
for (const [label, field, usage, allowed] of USAGE_BAD) {
  add(`reportUsage ${label}`, field, allowed, (c) => c.budgets.track('acme', { ...call, estimate: reserved }, async (ctx) => ctx.reportUsage(usage)), {
    writes: usageWrites,
  })
}
add(
  'reportUsage inputTokens = -5 through a record method (llmTrack)',
  'usage.inputTokens',
  /integer from 0/,
  (c) => c.org.llmTrack({ ...call, estimate: reserved }, async (ctx) => ctx.reportUsage({ inputTokens: -5 })),
  { writes: usageWrites },
)

// ── llmTenant() options (validated at $extends) ──
const ext = (opts: Record<string, unknown>) => (c: Ctx) => void extend(c.db, opts)
add("llmTenant id names a missing field 'nope'", 'id', /a field name: one of id, slug/, ext({ id: 'nope' }))
add('llmTenant id = 42', 'id', /a field name or a function/, ext({ id: 42 }))
add("llmTenant name names a missing field 'title'", 'name', /a field name: one of/, ext({ name: 'title' }))
add("llmTenant apiKeys.openai names a missing field 'missingField'", 'apiKeys.openai', /a field name: one of/, ext({ apiKeys: { openai: 'missingField' } }))
add(
  "regression: llmTenant apiKeys with a misspelt provider 'openAI' (never read: the shared key was used)",
  'apiKeys.openAI',
  /a provider: openai, anthropic/,
  ext({ apiKeys: { openAI: 'openaiApiKey' } }),
)
add('regression: llmTenant apiKeys = an array', 'apiKeys', /\[provider\]/, ext({ apiKeys: ['openaiApiKey'] }))
add("llmTenant model = 'team' (not in the schema)", 'model', /a model of this client/, ext({ model: 'team' }))
add("regression: llmTenant unknown option 'idField' (ignored: the id came from 'id')", 'idField', /one of the llmTenant\(\) options/, ext({ idField: 'slug' }))
add("regression: llmTenant unknown option 'maxConcurrent'", 'maxConcurrent', /one of the llmTenant\(\) options/, ext({ maxConcurrent: -1 }))
add("llmTenant inheritGlobal = 'yes'", 'inheritGlobal', /true or false/, ext({ inheritGlobal: 'yes' }))
add("llmTenant budget = 'yes'", 'budget', /true or false/, ext({ budget: 'yes' }))
for (const { type, label, value, allowed } of limitCases())
  add(`llmTenant limits.${type} = ${label}`, `limits.${type}`, allowed, ext({ limits: { [type]: value } }))
for (const [label, value] of ENFORCEMENT_BAD) add(`llmTenant enforcement = ${label}`, 'enforcement', /^none, soft, hard$/, ext({ enforcement: value }))
for (const [label, value] of ZONE_BAD) add(`llmTenant config.timeZone = ${label}`, 'config.timeZone', ALLOWED.zone, ext({ config: { timeZone: value } }))

// ── Record and static methods of the tenant model ──
for (const { type, label, value, allowed } of limitCases()) {
  add(`regression: record.llmConfigure limits.${type} = ${label} (created the tenant row before validating)`, `limits.${type}`, allowed, (c) =>
    c.legacy.llmConfigure({ limits: { [type]: value } as never }),
  )
}
add('record.llmConfigure maxConcurrent = -1', 'maxConcurrent', ALLOWED.maxConcurrent, (c) => c.legacy.llmConfigure({ maxConcurrent: -1 }))
add("record.llmConfigure enforcement = 'HARD'", 'enforcement', ALLOWED.enforcement, (c) => c.legacy.llmConfigure({ enforcement: 'HARD' as never }))
add("record.llmConfigure unknown key 'limit'", 'changes.limit', /one of: tenantId, name/, (c) => c.legacy.llmConfigure({ limit: 1 } as never))
add("record.llmCost period = 'forever'", 'period', ALLOWED.period, (c) => c.org.llmCost({ period: 'forever' as never }))
add('record.llmUsageByDay custom period with from > to', 'period.from', /a date not after period\.to/, (c) => c.org.llmUsageByDay({ period: REVERSED_RANGE }))
add("regression: record.llmCost({ periode: 'today' }) (fell back to this_month)", 'query.periode', /period/, (c) =>
  c.org.llmCost({ periode: 'today' } as never),
)
add('record.llmRecentExecutions limit = 0', 'limit', /integer from 1 to 10000/, (c) => c.org.llmRecentExecutions({ limit: 0 }))
add('regression: record.llmRecentExecutions({ limt: 5 })', 'query.limt', /limit/, (c) => c.org.llmRecentExecutions({ limt: 5 } as never))
add("record.llmWithinBudget type = 'weekly'", 'type', /dailyCost, .*maxConcurrent/, (c) => c.org.llmWithinBudget({ type: 'weekly' as never }))
add("regression: record.llmWithinBudget({ typ: 'dailyCost' }) (checked every limit instead)", 'query.typ', /type/, (c) =>
  c.org.llmWithinBudget({ typ: 'dailyCost' } as never),
)
add('record.llmTrack estimate.tokens = -1', 'call.estimate.tokens', ALLOWED.tokens, (c) => c.org.llmTrack({ ...call, estimate: { tokens: -1 } }, ok))
add('regression: static llmDeactivate(42) (said "Invalid id: undefined")', 'tenant', /a tenant id string or a record of model "organization"/, (c) =>
  c.prisma.organization.llmDeactivate(42 as never),
)
add('regression: static llmDeactivate([])', 'tenant', /a tenant id string or a record/, (c) => c.prisma.organization.llmDeactivate([] as never))
add('static llmDeactivate({}) (a record without its id field)', 'id', /non-empty tenant id from field "slug"/, (c) =>
  c.prisma.organization.llmDeactivate({} as never),
)
add('static llmFindTenant(42)', 'tenantId', ALLOWED.id, (c) => c.prisma.organization.llmFindTenant(42 as never))
add("static llmTopSpenders period = 'forever'", 'period', ALLOWED.period, (c) => c.prisma.organization.llmTopSpenders({ period: 'forever' as never }))
add('regression: static llmTopSpenders({ limt: 5 })', 'query.limt', /period, limit/, (c) => c.prisma.organization.llmTopSpenders({ limt: 5 } as never))
add('static llmRefreshCounters tenantId = 42', 'tenantId', ALLOWED.id, (c) => c.prisma.organization.llmRefreshCounters({ tenantId: 42 as never }))

// ── Agent runtime: options, definitions, run options, unknown models, bad provider usage ──
const runtimeWith = (opts: Record<string, unknown>) => (c: Ctx) => createLlmRuntime(c.db.client, opts as never)
add("regression: createLlmRuntime unknown option 'pricng' (ignored)", 'options.pricng', /config, providers, pricing/, runtimeWith({ pricng: {} }))
add("regression: createLlmRuntime pricing unknown key 'fallbak'", 'options.pricing.fallbak', /prices, fallback/, runtimeWith({ pricing: { fallbak: {} } }))
add(
  "regression: createLlmRuntime providers 'openAI'",
  'options.providers.openAI',
  /openai, anthropic/,
  runtimeWith({ providers: { openAI: { apiKey: 'sk' } } }),
)
add(
  "regression: createLlmRuntime providers.openai 'baseUrl'",
  'options.providers.openai.baseUrl',
  /baseURL, apiKey/,
  runtimeWith({ providers: { openai: { baseUrl: 'http://x' } } }),
)
add(
  "createLlmRuntime pricing.prices with input 'abc'",
  'pricing.prices[gpt-x].input',
  /non-negative decimal string/,
  runtimeWith({
    pricing: { prices: [{ provider: 'openai', model: 'gpt-x', effectiveFrom: '2025-01-01', input: 'abc', output: '1', cachedInput: '1', cacheWrite: '0' }] },
  }),
)
for (const [label, value] of ZONE_BAD)
  add(`createLlmRuntime config.timeZone = ${label}`, 'config.timeZone', ALLOWED.zone, runtimeWith({ config: { timeZone: value } }))
const agentBase = { name: 'Bad', provider: 'openai', model: 'gpt-4o-mini' }
const AGENT_BAD: Array<[string, string, Record<string, unknown>, RegExp]> = [
  ["unknown key 'modle'", 'agent.modle', { modle: 'gpt-4o' }, /name, provider, model/],
  ["provider 'mistral'", 'agent.provider', { provider: 'mistral' }, /openai, anthropic/],
  ["name 'has space'", 'agent.name', { name: 'has space' }, /letters, digits/],
  ["fallbackModels 'gpt-4o' (not an array)", 'agent.fallbackModels', { fallbackModels: 'gpt-4o' }, /an array of model ids/],
  ...[
    ['-1', -1],
    ['0', 0],
    ['NaN', NaN],
    ['1.5', 1.5],
    ['2**53', 2 ** 53],
  ].map(
    ([l, v]) =>
      [`maxOutputTokens ${l}`, 'agent.maxOutputTokens', { maxOutputTokens: v }, /integer from 1 to 1000000/] as [
        string,
        string,
        Record<string, unknown>,
        RegExp,
      ],
  ),
  ...[
    ['NaN', NaN],
    ['-1', -1],
    ['3', 3],
    ["'1'", '1'],
  ].map(([l, v]) => [`temperature ${l}`, 'agent.temperature', { temperature: v }, /a number from 0 to 2/] as [string, string, Record<string, unknown>, RegExp]),
  ['retries -1', 'agent.retries', { retries: -1 }, /integer from 0 to 10/],
  [
    "regression: circuitBreaker unknown key 'error' (ignored)",
    'agent.circuitBreaker.error',
    { circuitBreaker: { error: 1 } },
    /errors, withinSeconds, cooldownSeconds/,
  ],
  ['circuitBreaker.errors 0', 'agent.circuitBreaker.errors', { circuitBreaker: { errors: 0 } }, /integer from 1 to 1000/],
]
for (const [label, field, extra, allowed] of AGENT_BAD) {
  add(`defineAgent ${label}`, field, allowed, () => defineAgent({ ...agentBase, ...extra } as never))
  add(`runtime.defineAgent ${label}`, field, allowed, (c) => c.runtime.defineAgent({ ...agentBase, ...extra } as never))
}
const run =
  (opts: Record<string, unknown>, input: unknown = 'hi') =>
  (c: Ctx) =>
    c.runtime.defineAgent(agentBase as never).run(input as string, opts)
add("regression: agent.run option 'tenat' (ran without the tenant and its budget)", 'options.tenat', /tenant, apiKeys, signal/, run({ tenat: 'acme' }))
add('regression: agent.run apiKeys.openai = 42 (ignored)', 'options.apiKeys.openai', /an API key string/, run({ tenant: 'acme', apiKeys: { openai: 42 } }))
add("regression: agent.run apiKeys 'openAI'", 'options.apiKeys.openAI', /openai, anthropic/, run({ tenant: 'acme', apiKeys: { openAI: 'sk' } }))
add("regression: agent.run signal = 'x' (was passed on unchecked)", 'options.signal', /an AbortSignal/, run({ tenant: 'acme', signal: 'x' }))
add('agent.run input = []', 'input', /a string or a non-empty array/, run({ tenant: 'acme' }, []))
add("agent.run input = [{ role: 'system' }]", 'input[0]', /role: 'user' \| 'assistant' \| 'tool'/, run({ tenant: 'acme' }, [{ role: 'system', content: 'x' }]))
add('agent.stream tenant = 42', 'tenant', ALLOWED.tenant, (c) => c.runtime.defineAgent(agentBase as never).stream('hi', { tenant: 42 as never }).result)
const unknownModel = { name: 'Unpriced', provider: 'openai', model: 'gpt-99' } as const
add(
  "agent.run unknown model 'gpt-99' (no price)",
  'gpt-99',
  /config\.pricing\.prices or set config\.pricing\.fallback/,
  (c) => c.runtime.defineAgent(unknownModel).run('hi', { tenant: 'acme' }),
  { error: UnknownModelError },
)
add(
  "agent.stream unknown model 'gpt-99'",
  'gpt-99',
  /config\.pricing\.prices or set config\.pricing\.fallback/,
  (c) => c.runtime.defineAgent(unknownModel).stream('hi', { tenant: 'acme' }).result,
  { error: UnknownModelError },
)

// The provider answered with usage the API never sends (negative, huge): was clamped to 0 and priced at $0.
const malformed = { executions: 1, status: 'error', errorClass: 'MalformedResponseError' }
const PROVIDER_BAD: Array<[string, 'openai' | 'anthropic', string, 'chat' | 'responses' | undefined, Scenario, string]> = [
  ['OpenAI chat prompt_tokens = -1000', 'openai', 'gpt-4o-mini', 'chat', { kind: 'ok', usage: { inputTokens: -1000 } }, 'usage.prompt_tokens'],
  ['OpenAI responses output_tokens = -5', 'openai', 'gpt-4.1-mini', 'responses', { kind: 'ok', usage: { outputTokens: -5 } }, 'usage.output_tokens'],
  [
    'Anthropic input_tokens < 0 (cache reads above input)',
    'anthropic',
    'claude-haiku-4-5',
    undefined,
    { kind: 'ok', usage: { inputTokens: 10, cachedInputTokens: 500 } },
    'usage.input_tokens',
  ],
  ['OpenAI chat prompt_tokens = 3e9 (beyond INTEGER)', 'openai', 'gpt-4o-mini', 'chat', { kind: 'ok', usage: { inputTokens: 3e9 } }, 'usage.prompt_tokens'],
]
for (const [i, [label, provider, model, api, scenario, field]] of PROVIDER_BAD.entries()) {
  const agent = (c: Ctx, kind: string) => c.runtime.defineAgent({ name: `Usage${i}${kind}`, provider, model, retries: 0, ...(api ? { api } : {}) })
  add(
    `regression: agent.run, provider usage ${label}`,
    field,
    /allowed: an integer from 0 to 2147483647/,
    (c) => {
      emulator.script(model, scenario)
      return agent(c, 'run').run('hi', { tenant: 'acme' })
    },
    { error: AllModelsExhaustedError, detail: (e) => e.attempts[0].message, writes: malformed },
  )
  add(
    `regression: agent.stream, provider usage ${label}`,
    field,
    /allowed: an integer from 0 to 2147483647/,
    (c) => {
      emulator.script(model, scenario)
      return agent(c, 'stream').stream('hi', { tenant: 'acme' }).result
    },
    { error: ProviderError, writes: malformed },
  )
}

add('regression: track estimate with an unknown key ({ cost, token: 5 })', 'call.estimate.token', /cost, tokens/, (c) =>
  c.budgets.track('acme', { ...call, estimate: { cost: 1, token: 5 } as never }, ok),
)
add('regression: track estimate as an array', 'call.estimate', /cost, tokens/, (c) => c.budgets.track('acme', { ...call, estimate: [1] as never }, ok))
add("regression: withinBudget({ typ: 'dailyCost' })", 'options.typ', /type/, (c) => c.budgets.withinBudget('acme', { typ: 'dailyCost' } as never))
add("regression: remainingBudget({ typ: 'dailyCost' })", 'options.typ', /type/, (c) => c.budgets.remainingBudget('acme', { typ: 'dailyCost' } as never))
add("regression: refreshCounters({ tenant: 'acme' }) (misspelt tenantId)", 'options.tenant', /tenantId/, (c) =>
  c.budgets.refreshCounters({ tenant: 'acme' } as never),
)

describe.each(DATABASES)('bad input (budgets, llmTenant, agents) on %s', (kind) => {
  const db = useDatabase(kind)
  const ctx = {} as Ctx
  let tried = 0

  beforeAll(async () => {
    await db().client.$executeRawUnsafe(ORG_DDL[kind])
    const prisma = extend(db())
    await new TenantStore(db().client).upsert({ tenantId: 'acme', name: 'Acme' })
    await prisma.organization.create({ data: { slug: 'acme', displayName: 'Acme' } })
    await db().client.organization.create({ data: { slug: 'legacy', displayName: 'Legacy' } })
    await new LlmBudgets(db().client).track('acme', { ...call, estimate: reserved }, async (c) => c.reportUsage({ inputTokens: 3, inputCost: '0.01' }))
    Object.assign(ctx, {
      db: db(),
      prisma,
      budgets: new LlmBudgets(db().client),
      org: await prisma.organization.findUniqueOrThrow({ where: { slug: 'acme' } }),
      legacy: await prisma.organization.findUniqueOrThrow({ where: { slug: 'legacy' } }),
      runtime: createLlmRuntime(db().client, {
        providers: {
          openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-test-openai' },
          anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-test-ant' },
        },
      }),
    })
  })
  afterAll(() => console.log(`bad inputs tried on ${kind} (part 2): ${tried}`))

  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    tried++
    await expectRefused(row, ctx, ctx.db)
  })
})
