/**
 * Regression: "Streams neither retry nor fall back". A stream that fails before its first delta
 * reached the caller (429, 5xx, connection reset, timeout) is retried and falls back like a run:
 * same retries, backoff / retry-after, breakers, fallback order; every attempt is admitted and
 * recorded on its own ledger row (one trace id). Once a delta went out, a failure is final. Real
 * OpenAI (chat) and Anthropic (messages) SDKs against the emulator, on SQLite and PostgreSQL.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { ledgerRowsOf, openHolds, tenantFigures, type LedgerRow } from '../support/fault-kit.ts'
import {
  AllModelsExhaustedError,
  BudgetExceededError,
  CircuitBreakerOpenError,
  createLlmRuntime,
  type AgentOptions,
  type AgentStream,
  type RunOptions,
} from '../../src/index.ts'
import { ProviderEmulator, type Scenario } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const PROVIDERS = ['openai', 'anthropic'] as const
/** The library's reservation input estimate (agents/attempt.ts), no instructions, no tools. */
const estimatedInput = (prompt: string) => Math.ceil((JSON.stringify([{ role: 'user', content: prompt }]).length + 2) / 3) + 16

/** Everything the caller of a stream sees: the deltas, then the iterator's error (if any). */
async function drain(stream: AgentStream): Promise<{ deltas: string[]; error: unknown }> {
  const deltas: string[] = []
  try {
    for await (const d of stream) deltas.push(d)
    return { deltas, error: undefined }
  } catch (error) {
    return { deltas, error }
  }
}

// Failures that happen before any delta, and the ledger row each leaves. A refused HTTP request
// consumed nothing; a timeout or a cut connection is charged the estimated input (the provider may
// have read it), with no output.
const BEFORE_FIRST_DELTA: Array<{ fault: string; scenario: Scenario; row: { status: string; errorClass: RegExp; charged: boolean }; minElapsedMs?: number }> = [
  {
    fault: '429 with retry-after',
    scenario: { kind: 'error', status: 429, headers: { 'retry-after': '0.15' } },
    minElapsedMs: 150,
    row: { status: 'error', errorClass: /^RateLimitError$/, charged: false },
  },
  { fault: '500', scenario: { kind: 'error', status: 500 }, row: { status: 'error', errorClass: /^InternalServerError$/, charged: false } },
  // The emulator sends the 200 and the stream's opening events, then drops the socket.
  {
    fault: 'connection reset',
    scenario: { kind: 'cut', afterDeltas: 0 },
    row: { status: 'error', errorClass: /^(TypeError|APIConnectionError)$/, charged: true },
  },
  { fault: 'timeout', scenario: { kind: 'hang', ms: 800 }, row: { status: 'timeout', errorClass: /^TimeoutError$/, charged: true } },
]

describe.each(DATABASES)('stream retries and fallbacks on %s', (kind) => {
  const db = useDatabase(kind)
  const runtime = () =>
    createLlmRuntime(db().client, {
      providers: {
        openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-sr-openai' },
        anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-ant-sr' },
      },
      // Made-up model ids per test: priced by one round fallback price.
      pricing: { fallback: { input: '1', output: '2', cachedInput: '0.5', cacheWrite: '1.25' } },
    })
  let n = 0
  /** An agent on fresh model ids (the emulator scripts per model) and a fresh tenant and trace. */
  const setup = (provider: (typeof PROVIDERS)[number], options: Partial<AgentOptions> & { fallbacks?: number } = {}) => {
    const id = `sr-${kind}-${provider}-${++n}`
    const { fallbacks = 0, ...agent } = options
    const models = [id, ...Array.from({ length: fallbacks }, (_, i) => `${id}-fb${i + 1}`)]
    const rt = runtime()
    return {
      rt,
      models,
      tenant: `t-${id}`,
      traceId: randomUUID(),
      requestsBefore: emulator.requests.length,
      agent: rt.defineAgent({ name: `Sr${n}`, provider, model: models[0], fallbackModels: models.slice(1), retryBaseMs: 1, ...agent }),
    }
  }
  type Setup = ReturnType<typeof setup>
  const requestsOf = (s: Setup) => emulator.requests.slice(s.requestsBefore).filter((r) => s.models.includes(r.model))
  /** The trace's ledger rows in attempt order (metadata.attempt), refusals last. */
  const rowsOf = async (s: Setup): Promise<LedgerRow[]> => {
    const order = (r: LedgerRow) => Number(r.metadata?.attempt ?? Number.MAX_SAFE_INTEGER)
    return (await ledgerRowsOf(db(), 'trace_id', s.traceId)).sort((a, b) => order(a) - order(b))
  }
  /** Nothing held, counters == ledger: the retries left the budget exactly as the rows say. */
  const expectSettled = async (s: Setup) => {
    expect(await openHolds(db(), s.tenant)).toBe(0)
    const f = await tenantFigures(db(), s.tenant)
    expect({ reserved: f.reservedAnywhere, running: f.running }).toEqual({ reserved: 0n, running: 0 })
    expect(f.spentCost).toBe(f.ledgerCost)
    expect(f.spentExecutions).toBe(f.ledgerExecutions)
    expect(await s.rt.budgets.refreshCounters()).toMatchObject({ changed: 0 })
  }

  describe.each(PROVIDERS)('%s', (provider) => {
    for (const c of BEFORE_FIRST_DELTA)
      it(`a stream that fails before its first delta (${c.fault}) retries, each attempt admitted and recorded (${provider})`, async () => {
        const s = setup(provider, { retries: 2, timeoutMs: c.fault === 'timeout' ? 250 : 60_000 })
        const text = 'A complete answer, streamed in several deltas.'
        const prompt = `retry after ${c.fault}`
        emulator.script(s.models[0], c.scenario, { kind: 'ok', text, usage: { inputTokens: 30, outputTokens: 11 } })
        const started = Date.now()
        const stream = s.agent.stream(prompt, { tenant: s.tenant, traceId: s.traceId })
        const { deltas, error } = await drain(stream)
        expect(error).toBeUndefined()
        const result = await stream.result
        if (c.minElapsedMs) expect(Date.now() - started).toBeGreaterThanOrEqual(c.minElapsedMs) // retry-after honoured, not the 1 ms backoff

        // One continuous stream: only the deltas of the attempt that answered.
        expect(deltas.length).toBeGreaterThan(3)
        expect(deltas.join('')).toBe(text)
        expect(result).toMatchObject({ text, model: s.models[0], traceId: s.traceId, usage: { inputTokens: 30, outputTokens: 11 } })
        expect(result.attempts.map((a) => [a.model, a.status])).toEqual([
          [s.models[0], c.row.status],
          [s.models[0], 'success'],
        ])
        expect(result.attempts[0].errorClass).toMatch(c.row.errorClass)
        expect(requestsOf(s).map((r) => [r.model, r.stream])).toEqual([
          [s.models[0], true],
          [s.models[0], true],
        ])

        const [failed, answered] = await rowsOf(s)
        expect(await ledgerRowsOf(db(), 'trace_id', s.traceId)).toHaveLength(2)
        expect([failed.id, answered.id]).toEqual(result.attempts.map((a) => a.executionId))
        expect(answered.id).toBe(result.executionId)
        expect(failed).toMatchObject({ status: c.row.status, outputTokens: 0, metadata: { streamed: true, attempt: 1 } })
        expect(failed.errorClass).toMatch(c.row.errorClass)
        if (c.row.charged) expect(failed.inputTokens).toBe(estimatedInput(prompt))
        else expect(failed).toMatchObject({ inputTokens: 0, totalCostNanos: 0n })
        expect(answered).toMatchObject({ status: 'success', errorClass: null, inputTokens: 30, outputTokens: 11, metadata: { streamed: true, attempt: 2 } })
        // result.cost is what the whole stream cost: every attempt's row.
        expect(BigInt(result.cost.mul(1e9).toFixed(0))).toBe(failed.totalCostNanos + answered.totalCostNanos)
        await expectSettled(s)
      })

    it(`a stream whose primary model is exhausted before its first delta falls back to the next model, which streams (${provider})`, async () => {
      const s = setup(provider, { retries: 1, fallbacks: 1 })
      emulator.script(s.models[0], { kind: 'error', status: 500 }, { kind: 'error', status: 500 })
      emulator.script(s.models[1], { kind: 'ok', text: 'Answered by the fallback model.' })
      const stream = s.agent.stream('fall back please', { tenant: s.tenant, traceId: s.traceId })
      const { deltas, error } = await drain(stream)
      expect(error).toBeUndefined()
      const result = await stream.result
      expect(deltas.join('')).toBe('Answered by the fallback model.')
      expect(result.model).toBe(s.models[1])
      expect(result.attempts.map((a) => [a.model, a.status, a.errorClass])).toEqual([
        [s.models[0], 'error', 'InternalServerError'],
        [s.models[0], 'error', 'InternalServerError'],
        [s.models[1], 'success', null],
      ])
      expect(requestsOf(s).map((r) => r.model)).toEqual([s.models[0], s.models[0], s.models[1]])
      const rows = await rowsOf(s)
      expect(rows.map((r) => r.id)).toEqual(result.attempts.map((a) => a.executionId))
      expect(rows.map((r) => [r.status, r.totalCostNanos > 0n])).toEqual([
        ['error', false],
        ['error', false],
        ['success', true],
      ])
      await expectSettled(s)
    })

    it(`a stream on which every model fails before its first delta throws AllModelsExhaustedError with every attempt (${provider})`, async () => {
      const s = setup(provider, { retries: 1, fallbacks: 1 })
      emulator.script(s.models[0], { kind: 'error', status: 502 }, { kind: 'error', status: 429, headers: { 'retry-after-ms': '20' } })
      emulator.script(s.models[1], { kind: 'error', status: 400 }) // not retryable: no second try
      const stream = s.agent.stream('nothing works', { tenant: s.tenant, traceId: s.traceId })
      const { deltas, error } = await drain(stream)
      expect(deltas).toEqual([])
      expect(error).toBeInstanceOf(AllModelsExhaustedError)
      expect(await stream.result.catch((e: unknown) => e)).toBe(error)
      const { attempts } = error as AllModelsExhaustedError
      expect(attempts.map((a) => [a.model, a.status, a.errorClass])).toEqual([
        [s.models[0], 'error', 'InternalServerError'],
        [s.models[0], 'error', 'RateLimitError'],
        [s.models[1], 'error', 'BadRequestError'],
      ])
      expect(requestsOf(s)).toHaveLength(3)
      const rows = await rowsOf(s)
      expect(rows.map((r) => r.id)).toEqual(attempts.map((a) => a.executionId))
      expect(rows.map((r) => [r.status, r.errorClass, r.totalCostNanos])).toEqual([
        ['error', 'InternalServerError', 0n],
        ['error', 'RateLimitError', 0n],
        ['error', 'BadRequestError', 0n],
      ])
      await expectSettled(s)
    })

    it(`a stream that fails after its first delta is not retried: recorded as it ended, with partial usage (${provider})`, async () => {
      const s = setup(provider, { retries: 2, fallbacks: 1 })
      const prompt = 'a long answer that is cut off after two deltas'
      // The 500 (before any delta) is retried; the cut after two deltas of the retry is final.
      emulator.script(s.models[0], { kind: 'error', status: 500 }, { kind: 'cut', afterDeltas: 2 })
      const stream = s.agent.stream(prompt, { tenant: s.tenant, traceId: s.traceId })
      const { deltas, error } = await drain(stream)
      expect(deltas).toHaveLength(2)
      expect(error).toBeInstanceOf(Error)
      expect(error).not.toBeInstanceOf(AllModelsExhaustedError)
      expect(await stream.result.catch((e: unknown) => e)).toBe(error)
      expect(requestsOf(s).map((r) => r.model)).toEqual([s.models[0], s.models[0]]) // no third try, no fallback
      const rows = await rowsOf(s)
      expect(rows.map((r) => [r.status, r.metadata?.attempt])).toEqual([
        ['error', 1],
        ['error', 2],
      ])
      expect(rows[0]).toMatchObject({ errorClass: 'InternalServerError', totalCostNanos: 0n })
      expect(rows[1]).toMatchObject({ inputTokens: estimatedInput(prompt), outputTokens: Math.ceil(deltas.join('').length / 4), metadata: { partial: true } })
      expect(rows[1].totalCostNanos > 0n).toBe(true)
      await expectSettled(s)
    })

    it(`a stream refused by the budget on a retry is not retried again and its refusal is recorded once (${provider})`, async () => {
      const s = setup(provider, { retries: 2, fallbacks: 1 })
      emulator.script(s.models[0], { kind: 'error', status: 500 })
      // The failed first attempt uses the tenant's one execution of the day: admission refuses the retry.
      const tenant: RunOptions['tenant'] = { id: s.tenant, limits: { dailyExecutions: 1 }, enforcement: 'hard' }
      const stream = s.agent.stream('hi', { tenant, traceId: s.traceId })
      const { deltas, error } = await drain(stream)
      expect(deltas).toEqual([])
      expect(error).toBeInstanceOf(BudgetExceededError)
      expect(requestsOf(s)).toHaveLength(1)
      const rows = await rowsOf(s)
      expect(rows.map((r) => [r.status, r.errorClass, r.totalCostNanos])).toEqual([
        ['error', 'InternalServerError', 0n],
        ['refused', 'BudgetExceededError', 0n],
      ])
      await expectSettled(s)
    })

    it(`a stream aborted by the caller before its first delta is not retried, in flight or in backoff (${provider})`, async () => {
      // In flight: the attempt is recorded cancelled and not retried.
      const s = setup(provider, { retries: 2, fallbacks: 1 })
      emulator.script(s.models[0], { kind: 'hang', ms: 600 })
      const caller = new AbortController()
      const stream = s.agent.stream('abort me', { tenant: s.tenant, traceId: s.traceId, signal: caller.signal })
      setTimeout(() => caller.abort(), 150)
      const { deltas, error } = await drain(stream)
      expect(deltas).toEqual([])
      expect((error as Error).name).toBe('AbortError')
      expect(requestsOf(s)).toHaveLength(1)
      expect((await rowsOf(s)).map((r) => r.status)).toEqual(['cancelled'])
      await expectSettled(s)

      // In backoff (the provider asked for 5 s): the abort ends the wait, nothing more is sent.
      const b = setup(provider, { retries: 2, fallbacks: 1 })
      emulator.script(b.models[0], { kind: 'error', status: 429, headers: { 'retry-after': '5' } })
      const later = new AbortController()
      const started = Date.now()
      const waiting = b.agent.stream('abort my backoff', { tenant: b.tenant, traceId: b.traceId, signal: later.signal })
      setTimeout(() => later.abort(), 200)
      const out = await drain(waiting)
      expect((out.error as Error).name).toBe('AbortError')
      expect(Date.now() - started).toBeLessThan(3000)
      expect(requestsOf(b)).toHaveLength(1)
      expect((await rowsOf(b)).map((r) => [r.status, r.errorClass])).toEqual([['error', 'RateLimitError']])
      await expectSettled(b)
    })

    it(`a stream whose every breaker is open fails fast with CircuitBreakerOpenError, recorded as refusals (${provider})`, async () => {
      const s = setup(provider, { retries: 2, fallbacks: 1, circuitBreaker: { errors: 1, withinSeconds: 60, cooldownSeconds: 60 } })
      emulator.script(s.models[0], { kind: 'error', status: 500 })
      emulator.script(s.models[1], { kind: 'error', status: 500 })
      // One failure opens each breaker: no retry on the open model, straight to the fallback.
      const first = await drain(s.agent.stream('open the breakers', { tenant: s.tenant, traceId: s.traceId }))
      expect(first.error).toBeInstanceOf(AllModelsExhaustedError)
      expect((first.error as AllModelsExhaustedError).attempts.map((a) => a.model)).toEqual(s.models)
      const before = emulator.requests.length
      const traceId = randomUUID()
      const second = await drain(s.agent.stream('fail fast', { tenant: s.tenant, traceId }))
      expect(second.error).toBeInstanceOf(CircuitBreakerOpenError)
      expect((second.error as CircuitBreakerOpenError).models).toEqual(s.models)
      expect(emulator.requests.length).toBe(before) // the provider was not contacted
      const refusals = await ledgerRowsOf(db(), 'trace_id', traceId)
      expect(refusals.map((r) => [r.status, r.errorClass, r.totalCostNanos])).toEqual([
        ['refused', 'CircuitBreakerOpenError', 0n],
        ['refused', 'CircuitBreakerOpenError', 0n],
      ])
      await expectSettled(s)
    })
  })
})
