/** Agents end to end: the official SDKs against the local emulator, real databases, exact costs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  AllModelsExhaustedError,
  BudgetExceededError,
  CircuitBreakerOpenError,
  MissingApiKeyError,
  TenantStore,
  UnknownModelError,
  createLedger,
  createLlmRuntime,
  type RuntimeOptions,
} from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const KEYS: Record<string, Record<string, string>> = {
  acme: { openai: 'sk-acme-openai-0001', anthropic: 'sk-ant-acme-0001' },
  globex: { openai: 'sk-globex-openai-0002' },
}

describe.each(DATABASES)('agent runs on %s', (kind) => {
  const db = useDatabase(kind)
  const runtime = (extra: Partial<RuntimeOptions> = {}) =>
    createLlmRuntime(db().client, {
      providers: { openai: { baseURL: emulator.openaiBaseURL }, anthropic: { baseURL: emulator.anthropicBaseURL } },
      tenantApiKeys: async (t) => KEYS[t.tenantId] ?? {},
      ...extra,
    })
  const rows = (traceId: string) =>
    createLedger(db().client)
      .executions({ limit: 100 })
      .then((r) => r.filter((x) => x.traceId === traceId).reverse())

  it('OpenAI Chat Completions: the tenant key is used, cost is exact with cached input counted once', async () => {
    const agent = runtime().defineAgent({ name: 'Support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Be brief.' })
    emulator.script('gpt-4o-mini', {
      kind: 'ok',
      text: 'Hi there',
      usage: { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 500, reasoningTokens: 0 },
    })
    const result = await agent.run('hello', { tenant: 'acme' })
    expect(result.text).toBe('Hi there')
    // 800 × $0.15/M + 200 × $0.075/M + 500 × $0.60/M
    expect(result.cost.toFixed()).toBe('0.000435')
    expect(result.usage).toMatchObject({ inputTokens: 1000, cachedInputTokens: 200, outputTokens: 500 })
    expect(emulator.requests.at(-1)).toMatchObject({ api: 'chat', apiKey: 'sk-acme-openai-0001' })
    expect(emulator.requests.at(-1)?.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' })
    const [row] = await rows(result.traceId)
    expect(row).toMatchObject({
      id: result.executionId,
      tenantId: 'acme',
      agentType: 'Support',
      provider: 'openai',
      status: 'success',
      inputTokens: 1000,
      cachedInputTokens: 200,
    })
    expect(row.totalCost.toFixed()).toBe('0.000435')
    expect(row.metadata).toMatchObject({ pricing: 'table', priceEffectiveFrom: '2024-07-18' })
  })

  it('Anthropic Messages: cache reads and writes are priced separately and never double-counted', async () => {
    const agent = runtime().defineAgent({ name: 'Writer', provider: 'anthropic', model: 'claude-haiku-4-5' })
    emulator.script('claude-haiku-4-5', {
      kind: 'ok',
      text: 'Done',
      usage: { inputTokens: 1000, cachedInputTokens: 300, cacheWriteTokens: 200, outputTokens: 100 },
    })
    const result = await agent.run('write', { tenant: 'acme' })
    // 500 × $1 + 300 × $0.10 + 200 × $1.25 (per M) + 100 × $5/M
    expect(result.cost.toFixed()).toBe('0.00128')
    expect(result.usage).toMatchObject({ inputTokens: 1000, cachedInputTokens: 300, cacheWriteTokens: 200, outputTokens: 100 })
    expect(emulator.requests.at(-1)).toMatchObject({ api: 'messages', apiKey: 'sk-ant-acme-0001' })
  })

  it('OpenAI Responses API with a tool-call round trip: each provider call is its own row, linked by trace and parent', async () => {
    const seen: unknown[] = []
    const agent = runtime().defineAgent({
      name: 'Weather',
      provider: 'openai',
      model: 'gpt-4.1-mini',
      api: 'responses',
      tools: [
        {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          run: (args) => (seen.push(args), { city: args.city, celsius: 21 }),
        },
      ],
    })
    emulator.script('gpt-4.1-mini', { kind: 'tool', name: 'get_weather', arguments: { city: 'Berlin' } })
    const result = await agent.run('Weather in Berlin?', { tenant: 'acme' })
    expect(seen).toEqual([{ city: 'Berlin' }])
    expect(result.text).toBe('Tool said: {"city":"Berlin","celsius":21}')
    expect(result.steps).toBe(2)
    const trace = await rows(result.traceId)
    expect(trace).toHaveLength(2)
    expect(trace[1].parentId).toBe(trace[0].id)
    expect(trace.every((r) => r.status === 'success')).toBe(true)
    expect(emulator.requests.at(-1)?.body.input.some((i: { type?: string }) => i.type === 'function_call_output')).toBe(true)
  })

  it.each([
    ['anthropic', 'claude-sonnet-4', undefined],
    ['openai', 'gpt-4o', 'chat'],
  ] as const)('%s tool round trip (%s): the tool result goes back and the model answers', async (provider, model, api) => {
    const agent = runtime().defineAgent({
      name: `Tools-${provider}`,
      provider,
      model,
      ...(api ? { api } : {}),
      tools: [
        {
          name: 'add',
          description: 'Adds',
          parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
          run: (x) => String(Number(x.a) + Number(x.b)),
        },
      ],
    })
    emulator.script(model, { kind: 'tool', name: 'add', arguments: { a: 2, b: 3 } })
    const r = await agent.run('2+3?', { tenant: 'acme' })
    expect(r.text).toBe('Tool said: 5')
    expect(r.steps).toBe(2)
    const sent = emulator.requests.at(-1)!.body
    const toolTurn = provider === 'anthropic' ? sent.messages.at(-1).content[0] : sent.messages.at(-1)
    expect(toolTurn).toMatchObject(provider === 'anthropic' ? { type: 'tool_result', content: '5' } : { role: 'tool', content: '5' })
  })

  it('a multi-turn conversation is sent whole; maxSteps guards tool loops', async () => {
    const agent = runtime().defineAgent({ name: 'Chat', provider: 'anthropic', model: 'claude-sonnet-4-5' })
    const r = await agent.run(
      [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello!' },
        { role: 'user', content: 'again' },
      ],
      { tenant: 'acme' },
    )
    expect(r.text).toBe('Echo: again')
    expect(emulator.requests.at(-1)?.body.messages).toHaveLength(3)
    const looping = runtime().defineAgent({
      name: 'Loop',
      provider: 'openai',
      model: 'gpt-4o',
      maxSteps: 2,
      tools: [{ name: 'again', description: 'x', parameters: { type: 'object' }, run: () => 'more' }],
    })
    emulator.script('gpt-4o', { kind: 'tool', name: 'again', arguments: {} }, { kind: 'tool', name: 'again', arguments: {} })
    await expect(looping.run('go', { tenant: 'acme' })).rejects.toThrow(/maxSteps = 2/)
  })

  it('429 with retry-after is retried: every attempt recorded, the run recorded once as success with its attempts', async () => {
    const agent = runtime().defineAgent({ name: 'Retry', provider: 'openai', model: 'gpt-4.1', retries: 2, retryBaseMs: 1 })
    emulator.script('gpt-4.1', { kind: 'error', status: 429, headers: { 'retry-after': '0.05' } }, { kind: 'error', status: 503 })
    const started = Date.now()
    const result = await agent.run('hi', { tenant: 'globex' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(result.attempts.map((a) => [a.status, a.errorClass])).toEqual([
      ['error', 'RateLimitError'],
      ['error', 'InternalServerError'],
      ['success', null],
    ])
    const trace = await rows(result.traceId)
    expect(trace.map((r) => [r.status, r.errorClass])).toEqual([
      ['error', 'RateLimitError'],
      ['error', 'InternalServerError'],
      ['success', null],
    ])
    expect(trace.filter((r) => r.status === 'success')).toHaveLength(1)
  })

  it('fallback models in order; AllModelsExhaustedError lists every attempt', async () => {
    const agent = runtime().defineAgent({ name: 'Fallback', provider: 'openai', model: 'gpt-5', fallbackModels: ['gpt-5-mini', 'gpt-5-nano'], retries: 0 })
    emulator.script('gpt-5', { kind: 'error', status: 500 })
    emulator.script('gpt-5-mini', { kind: 'malformed' })
    const ok = await agent.run('hi', { tenant: 'acme' })
    expect(ok.model).toBe('gpt-5-nano')
    expect(ok.attempts.map((a) => a.model)).toEqual(['gpt-5', 'gpt-5-mini', 'gpt-5-nano'])
    emulator.script('gpt-5', { kind: 'error', status: 500 })
    emulator.script('gpt-5-mini', { kind: 'error', status: 502 })
    emulator.script('gpt-5-nano', { kind: 'error', status: 400 })
    const err = await agent.run('hi', { tenant: 'acme' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AllModelsExhaustedError)
    expect((err as AllModelsExhaustedError).attempts.map((a) => [a.model, a.errorClass])).toEqual([
      ['gpt-5', 'InternalServerError'],
      ['gpt-5-mini', 'InternalServerError'],
      ['gpt-5-nano', 'BadRequestError'],
    ])
  })

  it('circuit breaker per (tenant, agent, model): opens, fails fast without calling, half-opens after cooldown', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({
      name: 'Breaker',
      provider: 'openai',
      model: 'o4-mini',
      retries: 0,
      circuitBreaker: { errors: 2, withinSeconds: 60, cooldownSeconds: 1 },
    })
    emulator.script('o4-mini', { kind: 'error', status: 500 }, { kind: 'error', status: 500 })
    await expect(agent.run('1', { tenant: 'acme' })).rejects.toBeInstanceOf(AllModelsExhaustedError)
    await expect(agent.run('2', { tenant: 'acme' })).rejects.toBeInstanceOf(AllModelsExhaustedError)
    const before = emulator.requests.length
    const open = await agent.run('3', { tenant: 'acme' }).catch((e: unknown) => e)
    expect(open).toBeInstanceOf(CircuitBreakerOpenError)
    expect(emulator.requests.length).toBe(before) // the provider was not contacted
    expect((await agent.run('other tenant', { tenant: 'globex' })).text).toBe('Echo: other tenant') // isolated
    await new Promise((r) => setTimeout(r, 1100))
    expect((await agent.run('probe', { tenant: 'acme' })).text).toBe('Echo: probe') // half-open probe closes it
    expect((await agent.run('closed', { tenant: 'acme' })).text).toBe('Echo: closed')
    const refused = (await createLedger(db().client).refusedExecutions({ tenantId: 'acme', limit: 50 })).filter(
      (r) => r.errorClass === 'CircuitBreakerOpenError',
    )
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(refused.every((r) => r.status === 'refused' && r.totalCost.isZero())).toBe(true)
  })

  it('timeouts and missing usage are recorded with the right status; missing usage is estimated, never $0', async () => {
    const agent = runtime().defineAgent({ name: 'Slow', provider: 'anthropic', model: 'claude-3-5-haiku', retries: 0, timeoutMs: 150 })
    emulator.script('claude-3-5-haiku', { kind: 'hang', ms: 1000 })
    const err = await agent.run('hi', { tenant: 'acme' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AllModelsExhaustedError)
    expect((err as AllModelsExhaustedError).attempts[0]).toMatchObject({ status: 'timeout', errorClass: 'TimeoutError' })
    emulator.script('claude-3-5-haiku', { kind: 'ok', usage: null })
    const r = await agent.run('no usage please', { tenant: 'acme' })
    expect(r.cost.gt(0)).toBe(true)
    const [row] = (await rows(r.traceId)).slice(-1)
    expect(row.metadata).toMatchObject({ usageEstimated: true })
  })

  it('a missing key is a typed error naming provider and tenant, before any provider call', async () => {
    const before = emulator.requests.length
    const saved = process.env.ANTHROPIC_API_KEY
    delete process.env.ANTHROPIC_API_KEY
    const agent = runtime().defineAgent({ name: 'NoKey', provider: 'anthropic', model: 'claude-sonnet-4' })
    const err = await agent.run('hi', { tenant: 'globex' }).catch((e: unknown) => e)
    if (saved !== undefined) process.env.ANTHROPIC_API_KEY = saved
    expect(err).toBeInstanceOf(MissingApiKeyError)
    expect((err as Error).message).toMatch(/anthropic.*tenant "globex"/)
    expect(emulator.requests.length).toBe(before)
    // call keys → config keys → environment, in that order, when the tenant has none
    const viaCall = await agent.run('hi', { tenant: 'globex', apiKeys: { anthropic: 'sk-ant-call-key' } })
    expect(emulator.requests.at(-1)?.apiKey).toBe('sk-ant-call-key')
    expect(viaCall.text).toBe('Echo: hi')
  })

  it('budget refusals and unknown models: typed errors; refusals are ledger rows that consume nothing', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'broke', limits: { dailyCost: 0 }, enforcement: 'hard' })
    const agent = runtime().defineAgent({ name: 'Broke', provider: 'openai', model: 'gpt-4o' })
    const before = emulator.requests.length
    await expect(agent.run('hi', { tenant: { id: 'broke' }, apiKeys: { openai: 'sk-x' } })).rejects.toBeInstanceOf(BudgetExceededError)
    expect(emulator.requests.length).toBe(before)
    const [refusal] = await createLedger(db().client).refusedExecutions({ tenantId: 'broke', limit: 5 })
    expect(refusal).toMatchObject({ errorClass: 'BudgetExceededError', status: 'refused', agentType: 'Broke', provider: 'openai' })
    expect(refusal.totalCost.toFixed()).toBe('0')
    expect(await createLedger(db().client).failedExecutions({ tenantId: 'broke', limit: 5 })).toEqual([])
    expect(await createLedger(db().client).executionCount({ tenantId: 'broke', period: 'today' })).toBe(0)
    expect(await runtime().budgets.refreshCounters()).toMatchObject({ changed: 0 })

    const unknown = runtime().defineAgent({ name: 'Mystery', provider: 'openai', model: 'gpt-99-ultra' })
    await expect(unknown.run('hi', { tenant: 'acme' })).rejects.toBeInstanceOf(UnknownModelError)
    const fallback = runtime({ pricing: { fallback: { input: '10', output: '30', cachedInput: '5', cacheWrite: '0' } } }).defineAgent({
      name: 'Mystery',
      provider: 'openai',
      model: 'gpt-99-ultra',
    })
    emulator.script('gpt-99-ultra', { kind: 'ok', usage: { inputTokens: 100, outputTokens: 100 } })
    const r = await fallback.run('hi', { tenant: 'acme' })
    expect(r.cost.toFixed()).toBe('0.004')
    expect((await rows(r.traceId))[0].metadata).toMatchObject({ pricing: 'fallback' })
  })

  it('one SDK client per distinct key, in a bounded cache', async () => {
    const rt = runtime({ clientCacheSize: 2 })
    const agent = rt.defineAgent({ name: 'Cache', provider: 'openai', model: 'gpt-4o-mini' })
    for (const tenant of ['acme', 'globex', 'acme']) await agent.run('x', { tenant })
    expect(rt.clients.size).toBe(2)
    for (let i = 0; i < 5; i++) await agent.run('x', { tenant: null, apiKeys: { openai: `sk-rotating-${i}` } })
    expect(rt.clients.size).toBe(2)
  })
})
