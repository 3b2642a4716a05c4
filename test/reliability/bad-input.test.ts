/**
 * Bad input, table-driven (part 1: tenants, config, ledger, periods, money, pricing, crypto). Every row
 * is one invalid input at one public entry point, on SQLite and PostgreSQL; each must throw a typed
 * error naming the field and the allowed values, and write nothing (see bad-input.rows.ts).
 * Part 2 (budgets, llmTenant(), agents) is bad-input.budget.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import {
  LIMIT_TYPES,
  SecretDecryptionError,
  TenantStore,
  UnknownModelError,
  createLedger,
  decryptSecret,
  defineLlmConfig,
  encryptSecret,
  findPrice,
  priceUsage,
  resolvePeriod,
  usdToNanos,
  type LimitType,
  type LlmLedger,
  type RecordExecutionInput,
} from '../../src/index.ts'
import {
  ALLOWED,
  COST_BAD,
  ENFORCEMENT_BAD,
  MAX_CONCURRENT_BAD,
  PERIOD_BAD,
  REVERSED_RANGE,
  TENANT_BAD,
  ZONE_BAD,
  expectRefused,
  limitCases,
  type BadInput,
} from './bad-input.rows.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

interface Ctx {
  db: TestDatabase
  store: TenantStore
  ledger: LlmLedger
}

const NOW = new Date('2026-11-22T10:00:00.000Z')
const GLOBAL_KEY: Record<LimitType, string> = {
  dailyCost: 'globalDaily',
  monthlyCost: 'globalMonthly',
  dailyTokens: 'globalDailyTokens',
  monthlyTokens: 'globalMonthlyTokens',
  dailyExecutions: 'globalDailyExecutions',
  monthlyExecutions: 'globalMonthlyExecutions',
}
const PERIOD_OPTIONS = { timeZone: 'UTC', weekStartsOn: 1 as const, now: () => NOW }
const USAGE = { inputTokens: 1000, outputTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
const KEYRING = { current: 'k1', keys: new Map([['k1', Buffer.alloc(32, 7)]]) }
const exec: RecordExecutionInput = { tenantId: 'acme', agentType: 'Writer', model: 'gpt-4o', provider: 'openai' }

type Row = BadInput<Ctx>
const rows: Row[] = []
const add = (name: string, field: string, allowed: RegExp, run: Row['run'], extra: Partial<Row> = {}) => rows.push({ name, field, allowed, run, ...extra })

// ── Limits: every limit type × negative / NaN / ±Infinity / non-numeric / beyond safe integer / beyond BIGINT ──
for (const { type, label, value, allowed } of limitCases()) {
  add(`TenantStore.upsert (new tenant) limits.${type} = ${label}`, `limits.${type}`, allowed, (c) =>
    c.store.upsert({ tenantId: 'ghost', limits: { [type]: value } as never }),
  )
  add(`TenantStore.update limits.${type} = ${label}`, `limits.${type}`, allowed, (c) => c.store.update('acme', { limits: { [type]: value } as never }))
  add(`defineLlmConfig budgets.${GLOBAL_KEY[type]} = ${label}`, `config.budgets.${GLOBAL_KEY[type]}`, allowed, () =>
    defineLlmConfig({ budgets: { [GLOBAL_KEY[type]]: value } }),
  )
}
add('TenantStore.upsert limits with an unknown limit type', 'limits.dailyCosts', /one of the limit types/, (c) =>
  c.store.upsert({ tenantId: 'ghost', limits: { dailyCosts: 1 } as never }),
)
add('TenantStore.upsert limits.maxConcurrent (not a limit type)', 'limits.maxConcurrent', /one of the limit types/, (c) =>
  c.store.upsert({ tenantId: 'ghost', limits: { maxConcurrent: 1 } as never }),
)
add('TenantStore.upsert limits = an array', 'limits', /an object with any of/, (c) => c.store.upsert({ tenantId: 'ghost', limits: [] as never }))

for (const [label, value] of MAX_CONCURRENT_BAD) {
  add(`TenantStore.upsert maxConcurrent = ${label}`, 'maxConcurrent', ALLOWED.maxConcurrent, (c) =>
    c.store.upsert({ tenantId: 'ghost', maxConcurrent: value as number }),
  )
  add(`TenantStore.update maxConcurrent = ${label}`, 'maxConcurrent', ALLOWED.maxConcurrent, (c) => c.store.update('acme', { maxConcurrent: value as number }))
  add(`defineLlmConfig budgets.maxConcurrentPerTenant = ${label}`, 'config.budgets.maxConcurrentPerTenant', ALLOWED.maxConcurrent, () =>
    defineLlmConfig({ budgets: { maxConcurrentPerTenant: value as number } }),
  )
  add(`defineLlmConfig budgets.maxReservation.tokens = ${label}`, 'config.budgets.maxReservation.tokens', ALLOWED.tokens, () =>
    defineLlmConfig({ budgets: { maxReservation: { tokens: value as number } } }),
  )
}

// ── Per-agent limits ──
for (const period of ['dailyCost', 'monthlyCost'] as const) {
  for (const [label, value] of COST_BAD) {
    const limits = { Writer: { [period]: value } }
    add(`TenantStore.upsert agentLimits.Writer.${period} = ${label}`, `agentLimits.Writer.${period}`, ALLOWED.cost, (c) =>
      c.store.upsert({ tenantId: 'ghost', agentLimits: limits as never }),
    )
    add(`TenantStore.update agentLimits.Writer.${period} = ${label}`, `agentLimits.Writer.${period}`, ALLOWED.cost, (c) =>
      c.store.update('acme', { agentLimits: limits as never }),
    )
    add(`defineLlmConfig budgets.perAgent.Writer.${period} = ${label}`, `config.budgets.perAgent.Writer.${period}`, ALLOWED.cost, () =>
      defineLlmConfig({ budgets: { perAgent: limits as never } }),
    )
    add(`defineLlmConfig budgets.perTenantAgent.Writer.${period} = ${label}`, `config.budgets.perTenantAgent.Writer.${period}`, ALLOWED.cost, () =>
      defineLlmConfig({ budgets: { perTenantAgent: limits as never } }),
    )
  }
}
add('TenantStore.upsert agentLimits with an unknown key', 'agentLimits.Writer.daily', /dailyCost, monthlyCost/, (c) =>
  c.store.upsert({ tenantId: 'ghost', agentLimits: { Writer: { daily: 1 } } as never }),
)
add('TenantStore.upsert agentLimits.Writer = 5', 'agentLimits.Writer', /dailyCost\?, monthlyCost\?/, (c) =>
  c.store.upsert({ tenantId: 'ghost', agentLimits: { Writer: 5 } as never }),
)
add("regression: TenantStore.upsert agentLimits for agent '' (was stored; no agent can match it)", 'agentLimits agent type', ALLOWED.id, (c) =>
  c.store.upsert({ tenantId: 'ghost', agentLimits: { '': { dailyCost: 1 } } }),
)
add("regression: defineLlmConfig budgets.perAgent for agent ''", 'config.budgets.perAgent agent type', ALLOWED.id, () =>
  defineLlmConfig({ budgets: { perAgent: { '': { dailyCost: 1 } } } }),
)

// ── Enforcement ──
for (const [label, value] of ENFORCEMENT_BAD) {
  add(`TenantStore.upsert enforcement = ${label}`, 'enforcement', ALLOWED.enforcement, (c) =>
    c.store.upsert({ tenantId: 'ghost', enforcement: value as never }),
  )
  add(`TenantStore.update enforcement = ${label}`, 'enforcement', ALLOWED.enforcement, (c) => c.store.update('acme', { enforcement: value as never }))
  add(`defineLlmConfig budgets.enforcement = ${label}`, 'config.budgets.enforcement', ALLOWED.enforcement, () =>
    defineLlmConfig({ budgets: { enforcement: value as never } }),
  )
}
add('defineLlmConfig budgets.enforcement = null (global enforcement cannot inherit)', 'config.budgets.enforcement', /^none, soft, hard$/, () =>
  defineLlmConfig({ budgets: { enforcement: null as never } }),
)

// ── Tenant ids: number / array / object without id / empty ──
for (const [label, value] of TENANT_BAD) {
  add(`TenantStore.upsert tenantId = ${label}`, 'tenantId', ALLOWED.id, (c) => c.store.upsert({ tenantId: value as string }))
  add(`TenantStore.update(${label})`, 'tenantId', ALLOWED.id, (c) => c.store.update(value as string, { name: 'x' }))
  add(`TenantStore.find(${label})`, 'tenantId', ALLOWED.id, (c) => c.store.find(value as string))
  add(`ledger.recordExecution tenantId = ${label}`, 'tenantId', ALLOWED.id, (c) => c.ledger.recordExecution({ ...exec, tenantId: value as string }))
  add(`ledger.cost tenantId = ${label}`, 'tenantId', ALLOWED.id, (c) => c.ledger.cost({ tenantId: value as string }))
  add(`ledger.usageByDay tenantId = ${label}`, 'tenantId', ALLOWED.id, (c) => c.ledger.usageByDay({ tenantId: value as string }))
  add(`ledger.recentExecutions tenantId = ${label}`, 'tenantId', ALLOWED.id, (c) => c.ledger.recentExecutions({ tenantId: value as string }))
  add(`encryptSecret tenantId = ${label}`, 'tenantId', ALLOWED.id, () => encryptSecret('sk-secret', value as string, KEYRING))
}
add('ledger.executions tenant = 42', 'tenant', /'with', 'without' or \{ id: string \}/, (c) => c.ledger.executions({ tenant: 42 as never }))
add('ledger.executions tenant = { id: 42 }', 'tenant', /'with', 'without' or \{ id: string \}/, (c) => c.ledger.executions({ tenant: { id: 42 } as never }))
add('regression: decryptSecret tenantId = 42 (was SecretDecryptionError, not naming the field)', 'tenantId', ALLOWED.id, () =>
  decryptSecret('v1.k1.a.b.c', 42 as never, KEYRING),
)

// ── Periods: unknown names, reversed custom ranges, invalid dates, on every query ──
const QUERIES: Array<[string, (c: Ctx, period: unknown) => unknown]> = [
  ['cost', (c, period) => c.ledger.cost({ tenantId: 'acme', period: period as never })],
  ['tokens', (c, period) => c.ledger.tokens({ period: period as never })],
  ['executionCount', (c, period) => c.ledger.executionCount({ period: period as never })],
  ['usageSummary', (c, period) => c.ledger.usageSummary({ tenantId: null, period: period as never })],
  ['usageByDay', (c, period) => c.ledger.usageByDay({ period: period as never })],
  ['usageByAgent', (c, period) => c.ledger.usageByAgent({ period: period as never })],
  ['usageByModel', (c, period) => c.ledger.usageByModel({ period: period as never })],
  ['costByTenant', (c, period) => c.ledger.costByTenant({ period: period as never })],
  ['recentExecutions', (c, period) => c.ledger.recentExecutions({ period: period as never })],
  ['failedExecutions', (c, period) => c.ledger.failedExecutions({ period: period as never })],
  ['executions', (c, period) => c.ledger.executions({ tenant: 'with', period: period as never })],
]
for (const [method, run] of QUERIES) {
  for (const [label, value] of PERIOD_BAD.filter(([l]) => ["'forever'", '42', 'a Date'].includes(l))) {
    add(`ledger.${method} period = ${label}`, 'period', ALLOWED.period, (c) => run(c, value))
  }
  add(`ledger.${method} custom period with from > to`, 'period.from', /a date not after period\.to/, (c) => run(c, REVERSED_RANGE))
}
for (const [label, value] of PERIOD_BAD) add(`resolvePeriod(${label})`, 'period', ALLOWED.period, () => resolvePeriod(value, PERIOD_OPTIONS))
add('resolvePeriod custom range with from > to', 'period.from', /a date not after period\.to/, () => resolvePeriod(REVERSED_RANGE, PERIOD_OPTIONS))
add("resolvePeriod { from: 'not-a-date' }", 'period.from', /valid Date or ISO-8601 string/, () =>
  resolvePeriod({ from: 'not-a-date', to: '2026-01-01' }, PERIOD_OPTIONS),
)
add('resolvePeriod { from: Invalid Date }', 'period.from', /valid Date or ISO-8601 string/, () =>
  resolvePeriod({ from: new Date(NaN), to: '2026-01-01' }, PERIOD_OPTIONS),
)
add('resolvePeriod { from } without to', 'period.to', /valid Date or ISO-8601 string/, () => resolvePeriod({ from: '2026-01-01' } as never, PERIOD_OPTIONS))
add('regression: ledger.usageByDay over 9,000 years (built 3.3M zero-filled days for minutes)', 'period', /at most 10000 days/, (c) =>
  c.ledger.usageByDay({ period: { from: '1000-01-01', to: '9999-01-01' } }),
)

// ── Time zones ──
for (const [label, value] of ZONE_BAD) {
  add(`defineLlmConfig timeZone = ${label}`, 'config.timeZone', ALLOWED.zone, () => defineLlmConfig({ timeZone: value as string }))
  add(`createLedger(client, { timeZone: ${label} })`, 'config.timeZone', ALLOWED.zone, (c) => createLedger(c.db.client, { timeZone: value as string }))
  add(`regression: resolvePeriod('today', { timeZone: ${label} }) (returned null dates)`, 'options.timeZone', ALLOWED.zone, () =>
    resolvePeriod('today', { ...PERIOD_OPTIONS, timeZone: value as string }),
  )
}
add('defineLlmConfig weekStartsOn = 7', 'config.weekStartsOn', /integer 0-6/, () => defineLlmConfig({ weekStartsOn: 7 }))
add('regression: resolvePeriod weekStartsOn = 9 (was accepted)', 'options.weekStartsOn', /integer 0-6/, () =>
  resolvePeriod('this_week', { ...PERIOD_OPTIONS, weekStartsOn: 9 as never }),
)
add('regression: resolvePeriod without options (was a TypeError)', 'options', /timeZone, weekStartsOn/, () => resolvePeriod('today', undefined as never))

// ── Ledger recording: tokens beyond the INTEGER column / safe integers, bad costs, unknown keys ──
const TOKEN_BAD: Array<[string, unknown]> = [
  ['-1', -1],
  ['NaN', NaN],
  ['1.5', 1.5],
  ['2**31 (beyond INTEGER)', 2 ** 31],
  ['2**53 (beyond safe integer)', 2 ** 53],
  ['1e20', 1e20],
  ["'10'", '10'],
]
for (const field of ['inputTokens', 'outputTokens', 'cachedInputTokens', 'totalTokens'] as const) {
  for (const [label, value] of TOKEN_BAD) {
    add(`ledger.recordExecution ${field} = ${label}`, field, /integer from 0 to 2147483647/, (c) => c.ledger.recordExecution({ ...exec, [field]: value }))
  }
}
add('ledger.recordExecution inputTokens + outputTokens beyond INTEGER (derived totalTokens)', 'totalTokens', /integer from 0 to 2147483647/, (c) =>
  c.ledger.recordExecution({ ...exec, inputTokens: 2e9, outputTokens: 2e9 }),
)
for (const field of ['inputCost', 'outputCost', 'totalCost'] as const) {
  for (const [label, value] of COST_BAD)
    add(`ledger.recordExecution ${field} = ${label}`, field, ALLOWED.cost, (c) => c.ledger.recordExecution({ ...exec, [field]: value as string }))
}
add('ledger.recordExecution inputCost + outputCost beyond BIGINT nanos', 'totalCost', /at most \$9223372036\.854775807/, (c) =>
  c.ledger.recordExecution({ ...exec, inputCost: '9000000000', outputCost: '9000000000' }),
)
add("ledger.recordExecution status = 'done'", 'status', /running, success, error, timeout, cancelled/, (c) =>
  c.ledger.recordExecution({ ...exec, status: 'done' as never }),
)
add('ledger.recordExecution unknown key "cost"', 'cost', /one of: id, tenantId/, (c) => c.ledger.recordExecution({ ...exec, cost: 1 } as never))
add('ledger.recordExecution durationMs = -5', 'durationMs', /integer from 0 to 2147483647 or null/, (c) =>
  c.ledger.recordExecution({ ...exec, durationMs: -5 }),
)
add('ledger.recordExecution startedAt = Invalid Date', 'startedAt', /a valid Date/, (c) => c.ledger.recordExecution({ ...exec, startedAt: new Date(NaN) }))
add('ledger.recordExecution completedAt before startedAt', 'completedAt', /not before startedAt/, (c) =>
  c.ledger.recordExecution({ ...exec, startedAt: NOW, completedAt: new Date(NOW.getTime() - 1) }),
)
add('ledger.recordExecutions batch with one bad row writes none of it', 'outputTokens', /integer from 0/, (c) =>
  c.ledger.recordExecutions([exec, exec, { ...exec, outputTokens: -1 }]),
)
add('ledger.recordExecutions(not an array)', 'executions', /an array of executions/, (c) => c.ledger.recordExecutions(exec as never))

// ── Query objects: unknown keys (a misspelt key silently widened the query to every tenant) and limits ──
add("regression: ledger.cost({ tenant: 'acme' }) (returned every tenant's cost)", 'query.tenant', /tenantId, period/, (c) =>
  c.ledger.cost({ tenant: 'acme' } as never),
)
add("regression: ledger.usageSummary({ tenantID: 'acme' })", 'query.tenantID', /tenantId, period/, (c) => c.ledger.usageSummary({ tenantID: 'acme' } as never))
add('regression: ledger.usageByDay({ from, to }) (period fields at the top level; fell back to this_month)', 'query.from', /tenantId, period/, (c) =>
  c.ledger.usageByDay({ from: '2026-01-01', to: '2026-02-01' } as never),
)
add("regression: ledger.recentExecutions({ tenant: 'acme' })", 'query.tenant', /tenantId, period, limit/, (c) =>
  c.ledger.recentExecutions({ tenant: 'acme' } as never),
)
add("regression: ledger.executions({ tenantId: 'acme' })", 'query.tenantId', /tenant, period, limit/, (c) => c.ledger.executions({ tenantId: 'acme' } as never))
add("regression: ledger.costByTenant({ periode: 'today' })", 'query.periode', /period, limit/, (c) => c.ledger.costByTenant({ periode: 'today' } as never))
add('ledger.usageSummary(an array)', 'query', /an object with any of/, (c) => c.ledger.usageSummary([] as never))
for (const [label, value] of [
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['10001', 10_001],
  ['NaN', NaN],
] as const) {
  add(`ledger.recentExecutions limit = ${label}`, 'limit', /integer from 1 to 10000/, (c) => c.ledger.recentExecutions({ limit: value }))
  add(`ledger.costByTenant limit = ${label}`, 'limit', /integer from 1 to 10000/, (c) => c.ledger.costByTenant({ limit: value }))
}

// ── Config and tenant options: unknown keys and bad scalars ──
add("defineLlmConfig unknown key 'timezone'", 'config.timezone', /one of the known keys/, () => defineLlmConfig({ timezone: 'UTC' } as never))
add("defineLlmConfig budgets unknown key 'globalDailyCost'", 'config.budgets.globalDailyCost', /one of: globalDaily/, () =>
  defineLlmConfig({ budgets: { globalDailyCost: 1 } as never }),
)
add("defineLlmConfig budgets.maxReservation unknown key 'cents'", 'config.budgets.maxReservation.cents', /cost, tokens/, () =>
  defineLlmConfig({ budgets: { maxReservation: { cents: 1 } as never } }),
)
for (const [label, value] of COST_BAD)
  add(`defineLlmConfig budgets.maxReservation.cost = ${label}`, 'config.budgets.maxReservation.cost', ALLOWED.cost, () =>
    defineLlmConfig({ budgets: { maxReservation: { cost: value as string } } }),
  )
add("defineLlmConfig failMode = 'ajar'", 'config.failMode', /'closed' or 'open'/, () => defineLlmConfig({ failMode: 'ajar' as never }))
for (const [label, value] of [
  ['-1', -1],
  ['NaN', NaN],
  ['Infinity', Infinity],
] as const) {
  add(`defineLlmConfig holdTtlMs = ${label}`, 'config.holdTtlMs', /integer number of milliseconds from 1/, () => defineLlmConfig({ holdTtlMs: value }))
  add(`defineLlmConfig tenantCacheTtlMs = ${label}`, 'config.tenantCacheTtlMs', /integer number of milliseconds from 0/, () =>
    defineLlmConfig({ tenantCacheTtlMs: value }),
  )
  add(`defineLlmConfig refusalBackoffMs = ${label}`, 'config.refusalBackoffMs', /integer number of milliseconds from 0 \(off\) to 60000/, () =>
    defineLlmConfig({ refusalBackoffMs: value }),
  )
}
add("defineLlmConfig refusalBackoffMs = '250'", 'config.refusalBackoffMs', /integer number of milliseconds/, () =>
  defineLlmConfig({ refusalBackoffMs: '250' as never }),
)
add("TenantStore.upsert unknown key 'tenantID'", 'tenant.tenantID', /one of: tenantId, name/, (c) =>
  c.store.upsert({ tenantId: 'ghost', tenantID: 'x' } as never),
)
add('TenantStore.update cannot change tenantId', 'changes.tenantId', /omitted/, (c) => c.store.update('acme', { tenantId: 'other' } as never))
add("TenantStore.update active = 'yes'", 'active', /true or false/, (c) => c.store.update('acme', { active: 'yes' as never }))
add('TenantStore.upsert metadata = an array', 'metadata', /plain JSON object or null/, (c) => c.store.upsert({ tenantId: 'ghost', metadata: [] as never }))

// ── Money ──
for (const [label, value] of [...COST_BAD, ['null', null], ['{}', {}], ['true', true], ["''", ''], ['10n', 10n]] as Array<[string, unknown]>) {
  add(`usdToNanos(${label})`, 'amount', ALLOWED.cost, () => usdToNanos(value as string, 'amount'))
}

// ── Pricing: unknown model, negative / huge usage, bad instants and options ──
add(
  "priceUsage unknown model 'gpt-99'",
  'gpt-99',
  /config\.pricing\.prices or set config\.pricing\.fallback/,
  () => priceUsage('openai', 'gpt-99', USAGE, NOW),
  { error: UnknownModelError },
)
add(
  "priceUsage unknown provider 'mistral'",
  'mistral',
  /config\.pricing\.prices or set config\.pricing\.fallback/,
  () => priceUsage('mistral', 'gpt-4o', USAGE, NOW),
  { error: UnknownModelError },
)
for (const field of Object.keys(USAGE)) {
  add(`regression: priceUsage usage.${field} = -500 (was accepted: negative counts price below $0)`, `usage.${field}`, /integer from 0 to/, () =>
    priceUsage('openai', 'gpt-4o', { ...USAGE, [field]: -500 }, NOW),
  )
}
add('regression: priceUsage usage.outputTokens = NaN (was a SyntaxError)', 'usage.outputTokens', /integer from 0 to/, () =>
  priceUsage('openai', 'gpt-4o', { ...USAGE, outputTokens: NaN }, NOW),
)
add(
  'regression: priceUsage usage.outputTokens = 2**60 (beyond safe integer; priced inexactly)',
  'usage.outputTokens',
  /integer from 0 to 9007199254740991/,
  () => priceUsage('openai', 'gpt-4o', { ...USAGE, outputTokens: 2 ** 60 }, NOW),
)
add('regression: priceUsage at = Invalid Date (was a RangeError)', 'at', /a valid Date/, () => priceUsage('openai', 'gpt-4o', USAGE, new Date(NaN)))
add('regression: priceUsage model = 42 (was a TypeError)', 'model', /non-empty model id/, () => priceUsage('openai', 42 as never, USAGE, NOW))
add('regression: priceUsage usage = null (was a TypeError)', 'usage', /an object with inputTokens/, () => priceUsage('openai', 'gpt-4o', null as never, NOW))
add("regression: priceUsage fallback.output = 'abc' (was a DecimalError)", 'options.fallback.output', /non-negative decimal string/, () =>
  priceUsage('openai', 'gpt-99', USAGE, NOW, { fallback: { input: '1', output: 'abc', cachedInput: '1', cacheWrite: '1' } }),
)
add("regression: findPrice unknown option 'fallbak'", 'options.fallbak', /prices, fallback/, () => findPrice('openai', 'gpt-99', NOW, { fallbak: {} } as never))

// ── Crypto ──
add("encryptSecret plaintext = ''", 'plaintext', /non-empty string/, () => encryptSecret('', 'acme', KEYRING))
add('regression: encryptSecret with a keyring lacking the current key (was a TypeError)', 'keyring', /32-byte key/, () =>
  encryptSecret('sk-x', 'acme', { current: 'k2', keys: KEYRING.keys }),
)
add('decryptSecret of a non-ciphertext', 'ciphertext', /v1/, () => decryptSecret('sk-plain-text', 'acme', KEYRING), { error: SecretDecryptionError })

// ── Testing helpers: the provider emulator's options ──
for (const [label, value] of [
  ['-1', -1],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ["'15'", '15'],
  ['null', null],
] as Array<[string, unknown]>) {
  add(
    `new ProviderEmulator({ latencyMs: ${label} })`,
    'options.latencyMs',
    /non-negative number of milliseconds/,
    () => new ProviderEmulator({ latencyMs: value as number }),
  )
}
add('new ProviderEmulator({ latency: 15 }) (unknown option)', 'options.latency', /latencyMs/, () => new ProviderEmulator({ latency: 15 } as never))

describe.each(DATABASES)('bad input (tenants, config, ledger, periods, money, pricing) on %s', (kind) => {
  const db = useDatabase(kind)
  const ctx = {} as Ctx
  let tried = 0

  beforeAll(async () => {
    Object.assign(ctx, { db: db(), store: new TenantStore(db().client), ledger: createLedger(db().client, { now: () => NOW }) })
    await ctx.store.upsert({ tenantId: 'acme', limits: { dailyCost: 5, monthlyTokens: 1000 }, maxConcurrent: 2, agentLimits: { Writer: { dailyCost: 1 } } })
    await ctx.ledger.recordExecution({ ...exec, inputTokens: 10, outputTokens: 5, inputCost: '0.01' })
    await ctx.ledger.recordExecution({ ...exec, tenantId: null, inputTokens: 3, inputCost: '0.002' })
  })
  afterAll(() => console.log(`bad inputs tried on ${kind} (part 1): ${tried}`))

  it('the table covers every limit type', () => {
    for (const type of LIMIT_TYPES) expect(rows.some((r) => r.field === `limits.${type}`)).toBe(true)
    expect(rows.length).toBeGreaterThan(300)
  })

  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    tried++
    await expectRefused(row, ctx, ctx.db)
  })
})
