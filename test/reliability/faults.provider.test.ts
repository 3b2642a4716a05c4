/**
 * Provider fault matrix: the official OpenAI and Anthropic SDKs against the local emulator, on
 * SQLite and PostgreSQL. One table: every fault → each provider request has exactly one ledger row
 * with the status the library defines, its hold is released, the cost recorded is exactly what was
 * consumed (the emulator's usage; the library's estimate rule when usage is missing; the
 * reservation when the caller never reports), and refreshCounters() changes 0 rows.
 * (Single-fault scenarios also live in test/agents/runs.test.ts and streaming.test.ts.)
 */
import { randomUUID } from 'node:crypto'
import OpenAI from 'openai'
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { FaultTally, auditIds, holdState, ledgerRowsOf, tenantFigures, type LedgerRow } from '../support/fault-kit.ts'
import { createLlmRuntime, type AgentOptions } from '../../src/index.ts'
import { ProviderEmulator, type EmulatedUsage, type Scenario } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

// Round prices for every model of the matrix, so expected costs are plain integer nanos:
// input 1000, cached input 500, cache write 1250, output 2000 nanos per token.
const NANOS = { input: 1000n, cached: 500n, write: 1250n, output: 2000n }
const priceOf = (u: Partial<EmulatedUsage>) => {
  const input = BigInt(u.inputTokens ?? 0),
    cached = BigInt(u.cachedInputTokens ?? 0),
    write = BigInt(u.cacheWriteTokens ?? 0)
  return (input - cached - write) * NANOS.input + cached * NANOS.cached + write * NANOS.write + BigInt(u.outputTokens ?? 0) * NANOS.output
}
/** The library's reservation input estimate (agents/attempt.ts): ≈ 3 chars per token + 16, no instructions, no tools. */
const estimatedInput = (prompt: string) => Math.ceil((JSON.stringify([{ role: 'user', content: prompt }]).length + 2) / 3) + 16

type Cost =
  | { rule: 'zero' }
  | { rule: 'usage'; usage: Partial<EmulatedUsage> } // what the emulator reported
  | { rule: 'estimated' } // usage missing: estimated input + ceil(text / 4) output
  | { rule: 'partial'; exact: boolean } // stream stopped: estimated input + what was streamed
  | { rule: 'reservation'; cost: string; nanos: bigint; tokens: number } // never reported: charged the hold

interface FaultCase {
  name: string
  fault: string // the tally kind ('' = control)
  provider: 'openai' | 'anthropic'
  api?: 'chat' | 'responses'
  mode: 'run' | 'stream' | 'abort' | 'track'
  scenarios: Scenario[]
  agent?: Partial<AgentOptions>
  rows: Array<{ status: string; errorClass?: string | null; cost: Cost }>
  minElapsedMs?: number
}

const OAI_USAGE = { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 500 }
const ANT_USAGE = { inputTokens: 1000, cachedInputTokens: 300, cacheWriteTokens: 200, outputTokens: 100 }
const rl = (headers?: Record<string, string>): Scenario => ({ kind: 'error', status: 429, ...(headers ? { headers } : {}) })
const err = (status: string, errorClass: string) => ({ status, errorClass, cost: { rule: 'zero' } as Cost })

const CASES: FaultCase[] = [
  {
    name: 'control: OpenAI chat success',
    fault: '',
    provider: 'openai',
    mode: 'run',
    scenarios: [{ kind: 'ok', usage: OAI_USAGE }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'usage', usage: OAI_USAGE } }],
  },
  {
    name: 'control: Anthropic success',
    fault: '',
    provider: 'anthropic',
    mode: 'run',
    scenarios: [{ kind: 'ok', usage: ANT_USAGE }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'usage', usage: ANT_USAGE } }],
  },
  {
    name: 'OpenAI chat 429 with retry-after, retries exhausted',
    fault: '429',
    provider: 'openai',
    mode: 'run',
    agent: { retries: 2 },
    minElapsedMs: 2 * 60,
    scenarios: [rl({ 'retry-after': '0.06' }), rl({ 'retry-after': '0.06' }), rl({ 'retry-after': '0.06' })],
    rows: [err('error', 'RateLimitError'), err('error', 'RateLimitError'), err('error', 'RateLimitError')],
  },
  {
    name: 'Anthropic 429 without retry-after, retries exhausted',
    fault: '429',
    provider: 'anthropic',
    mode: 'run',
    agent: { retries: 1 },
    scenarios: [rl(), rl()],
    rows: [err('error', 'RateLimitError'), err('error', 'RateLimitError')],
  },
  {
    name: 'OpenAI responses 429 (retry-after-ms) then success',
    fault: '429',
    provider: 'openai',
    api: 'responses',
    mode: 'run',
    agent: { retries: 1 },
    minElapsedMs: 40,
    scenarios: [rl({ 'retry-after-ms': '40' }), { kind: 'ok', usage: OAI_USAGE }],
    rows: [err('error', 'RateLimitError'), { status: 'success', errorClass: null, cost: { rule: 'usage', usage: OAI_USAGE } }],
  },
  {
    name: 'OpenAI chat 500',
    fault: '500',
    provider: 'openai',
    mode: 'run',
    scenarios: [{ kind: 'error', status: 500 }],
    rows: [err('error', 'InternalServerError')],
  },
  {
    name: 'Anthropic 500',
    fault: '500',
    provider: 'anthropic',
    mode: 'run',
    scenarios: [{ kind: 'error', status: 500 }],
    rows: [err('error', 'InternalServerError')],
  },
  {
    name: 'OpenAI chat hang past the agent timeout',
    fault: 'timeout',
    provider: 'openai',
    mode: 'run',
    agent: { timeoutMs: 150 },
    scenarios: [{ kind: 'hang', ms: 700 }],
    rows: [err('timeout', 'TimeoutError')],
  },
  {
    name: 'Anthropic hang past the agent timeout',
    fault: 'timeout',
    provider: 'anthropic',
    mode: 'run',
    agent: { timeoutMs: 150 },
    scenarios: [{ kind: 'hang', ms: 700 }],
    rows: [err('timeout', 'TimeoutError')],
  },
  {
    name: 'OpenAI responses hang, timeout then retried success',
    fault: 'timeout',
    provider: 'openai',
    api: 'responses',
    mode: 'run',
    agent: { timeoutMs: 150, retries: 1 },
    scenarios: [
      { kind: 'hang', ms: 700 },
      { kind: 'ok', usage: OAI_USAGE },
    ],
    rows: [err('timeout', 'TimeoutError'), { status: 'success', errorClass: null, cost: { rule: 'usage', usage: OAI_USAGE } }],
  },
  {
    name: 'OpenAI chat malformed JSON body',
    fault: 'malformed',
    provider: 'openai',
    mode: 'run',
    scenarios: [{ kind: 'malformed' }],
    rows: [{ status: 'error', cost: { rule: 'zero' } }],
  },
  {
    name: 'Anthropic malformed JSON body',
    fault: 'malformed',
    provider: 'anthropic',
    mode: 'run',
    scenarios: [{ kind: 'malformed' }],
    rows: [{ status: 'error', cost: { rule: 'zero' } }],
  },
  {
    name: 'OpenAI chat missing usage',
    fault: 'no-usage',
    provider: 'openai',
    mode: 'run',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'OpenAI responses missing usage',
    fault: 'no-usage',
    provider: 'openai',
    api: 'responses',
    mode: 'run',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'Anthropic missing usage',
    fault: 'no-usage',
    provider: 'anthropic',
    mode: 'run',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'stream: OpenAI chat success',
    fault: '',
    provider: 'openai',
    mode: 'stream',
    scenarios: [{ kind: 'ok', usage: OAI_USAGE }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'usage', usage: OAI_USAGE } }],
  },
  {
    name: 'stream: OpenAI chat missing usage',
    fault: 'no-usage',
    provider: 'openai',
    mode: 'stream',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'stream: OpenAI responses missing usage',
    fault: 'no-usage',
    provider: 'openai',
    api: 'responses',
    mode: 'stream',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'stream: Anthropic missing usage',
    fault: 'no-usage',
    provider: 'anthropic',
    mode: 'stream',
    scenarios: [{ kind: 'ok', usage: null }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'estimated' } }],
  },
  {
    name: 'stream: OpenAI chat cut mid-way',
    fault: 'cut',
    provider: 'openai',
    mode: 'stream',
    scenarios: [{ kind: 'cut', afterDeltas: 3 }],
    rows: [{ status: 'error', cost: { rule: 'partial', exact: true } }],
  },
  {
    name: 'stream: OpenAI responses cut mid-way',
    fault: 'cut',
    provider: 'openai',
    api: 'responses',
    mode: 'stream',
    scenarios: [{ kind: 'cut', afterDeltas: 3 }],
    rows: [{ status: 'error', cost: { rule: 'partial', exact: true } }],
  },
  {
    name: 'stream: Anthropic cut mid-way',
    fault: 'cut',
    provider: 'anthropic',
    mode: 'stream',
    scenarios: [{ kind: 'cut', afterDeltas: 3 }],
    rows: [{ status: 'error', cost: { rule: 'partial', exact: true } }],
  },
  {
    name: 'stream: OpenAI chat 429',
    fault: '429',
    provider: 'openai',
    mode: 'stream',
    scenarios: [rl({ 'retry-after': '1' })],
    rows: [err('error', 'RateLimitError')],
  },
  {
    name: 'stream: Anthropic 500',
    fault: '500',
    provider: 'anthropic',
    mode: 'stream',
    scenarios: [{ kind: 'error', status: 500 }],
    rows: [err('error', 'InternalServerError')],
  },
  {
    name: 'stream: OpenAI chat hang past the agent timeout',
    fault: 'timeout',
    provider: 'openai',
    mode: 'stream',
    agent: { timeoutMs: 150 },
    scenarios: [{ kind: 'hang', ms: 700 }],
    rows: [{ status: 'timeout', errorClass: 'TimeoutError', cost: { rule: 'partial', exact: true } }],
  },
  {
    name: 'stream: Anthropic aborted by the caller',
    fault: 'abort',
    provider: 'anthropic',
    mode: 'abort',
    scenarios: [{ kind: 'ok', text: 'y'.repeat(600), deltaDelayMs: 10 }],
    rows: [{ status: 'cancelled', errorClass: 'AbortError', cost: { rule: 'partial', exact: false } }],
  },
  {
    name: 'track + OpenAI SDK, 500, usage never reported',
    fault: '500',
    provider: 'openai',
    mode: 'track',
    scenarios: [{ kind: 'error', status: 500 }],
    rows: [{ status: 'error', cost: { rule: 'reservation', cost: '0.0123', nanos: 12_300_000n, tokens: 77 } }],
  },
  {
    name: 'track + Anthropic SDK, success, usage never reported',
    fault: 'no-usage',
    provider: 'anthropic',
    mode: 'track',
    scenarios: [{ kind: 'ok', usage: ANT_USAGE }],
    rows: [{ status: 'success', errorClass: null, cost: { rule: 'reservation', cost: '0.0123', nanos: 12_300_000n, tokens: 77 } }],
  },
]

const modelOf = (i: number, c: FaultCase) => `fx-${c.provider}-${i}`
const PRICES = CASES.map((c, i) => ({
  provider: c.provider,
  model: modelOf(i, c),
  effectiveFrom: '2020-01-01',
  input: '1',
  output: '2',
  cachedInput: '0.5',
  cacheWrite: '1.25',
}))

describe.each(DATABASES)('provider fault matrix on %s', (kind) => {
  const db = useDatabase(kind)
  const tally = new FaultTally()
  const runtime = () =>
    createLlmRuntime(db().client, {
      providers: {
        openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-faults-openai' },
        anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-ant-faults' },
      },
      pricing: { prices: PRICES },
    })
  afterAll(() => console.log(`[${kind}] ${tally.line('provider')}`))

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const rt = runtime()
      const model = modelOf(i, c)
      const tenant = `fx-${i}`
      const prompt = `fault case ${i}: ${c.name}`
      const traceId = randomUUID()
      emulator.script(model, ...c.scenarios)
      const requestsBefore = emulator.requests.length
      const agent = rt.defineAgent({ name: `Fx${i}`, provider: c.provider, model, ...(c.api ? { api: c.api } : {}), retries: 0, retryBaseMs: 1, ...c.agent })
      const started = Date.now()
      let received = '' // the text the caller got
      let outcome: unknown

      if (c.mode === 'run') {
        outcome = await agent.run(prompt, { tenant, traceId }).then(
          (r) => ((received = r.text), r),
          (e: unknown) => e,
        )
      } else if (c.mode === 'stream' || c.mode === 'abort') {
        const stream = agent.stream(prompt, { tenant, traceId })
        outcome = await (async () => {
          for await (const d of stream) {
            received += d
            if (c.mode === 'abort' && received.length >= 12) break
          }
          return stream.result
        })().catch((e: unknown) => e)
        await stream.result.catch(() => undefined)
      } else {
        const sdkCall = async (signal?: AbortSignal) =>
          c.provider === 'openai'
            ? new OpenAI({ apiKey: 'sk-faults-openai', baseURL: emulator.openaiBaseURL, maxRetries: 0 }).chat.completions.create(
                { model, messages: [{ role: 'user', content: prompt }] },
                { signal },
              )
            : new Anthropic({ apiKey: 'sk-ant-faults', baseURL: emulator.anthropicBaseURL, maxRetries: 0 }).messages.create(
                { model, max_tokens: 64, messages: [{ role: 'user', content: prompt }] },
                { signal },
              )
        const res = c.rows[0].cost as Extract<Cost, { rule: 'reservation' }>
        outcome = await rt.budgets
          .track(tenant, { agentType: `Fx${i}`, model, provider: c.provider, traceId, estimate: { cost: res.cost, tokens: res.tokens } }, async (ctx) =>
            sdkCall(ctx.signal),
          )
          .catch((e: unknown) => e)
      }
      const elapsed = Date.now() - started
      const requests = emulator.requests.length - requestsBefore

      const failed = c.rows.at(-1)!.status !== 'success'
      if (failed) expect(outcome).toBeInstanceOf(Error)
      else expect(outcome).not.toBeInstanceOf(Error)
      if (c.minElapsedMs) expect(elapsed).toBeGreaterThanOrEqual(c.minElapsedMs)

      const rows = await ledgerRowsOf(db(), 'trace_id', traceId)
      // Nothing lost, nothing twice: one row per provider request, none still running.
      expect(requests).toBe(c.rows.length)
      expect(rows).toHaveLength(c.rows.length)
      const audit = await auditIds(
        db(),
        rows.map((r) => r.id),
        tenant,
      )
      tally.record(audit, rows.length)
      for (const s of c.scenarios) if (c.fault && (s.kind !== 'ok' || c.mode === 'abort' || c.fault === 'no-usage')) tally.inject(c.fault)
      expect(audit).toEqual({ lost: [], duplicated: [], extra: [] })

      const est = BigInt(estimatedInput(prompt))
      c.rows.forEach((want, k) => {
        const row: LedgerRow = rows[k]
        const got = { status: row.status, ...(want.errorClass !== undefined ? { errorClass: row.errorClass } : {}) }
        expect(got, `row ${k}`).toEqual({ status: want.status, ...(want.errorClass !== undefined ? { errorClass: want.errorClass } : {}) })
        const cost = want.cost
        let expected: bigint
        if (cost.rule === 'zero') expected = 0n
        else if (cost.rule === 'usage') expected = priceOf(cost.usage)
        else if (cost.rule === 'estimated') {
          expect(row.metadata, `row ${k} metadata`).toMatchObject({ usageEstimated: true })
          expected = est * NANOS.input + BigInt(Math.ceil(received.length / 4)) * NANOS.output
        } else if (cost.rule === 'partial') {
          expect(row.inputTokens, `row ${k} input tokens`).toBe(Number(est))
          const streamed = Math.ceil(received.length / 4)
          if (cost.exact) expect(row.outputTokens, `row ${k} output tokens`).toBe(streamed)
          else expect(row.outputTokens).toBeGreaterThanOrEqual(streamed)
          expected = est * NANOS.input + BigInt(row.outputTokens) * NANOS.output
        } else {
          expect(row.totalTokens).toBe(cost.tokens)
          expect(row.metadata).toMatchObject({ usageReported: false })
          expected = cost.nanos
        }
        expect(row.totalCostNanos, `row ${k} cost (nanos)`).toBe(expected)
      })

      // The holds are released and the counters agree with the ledger.
      for (const r of rows) expect(await holdState(db(), r.id)).not.toBe('open')
      const f = await tenantFigures(db(), tenant)
      expect({ reserved: f.reservedAnywhere, running: f.running }).toEqual({ reserved: 0n, running: 0 })
      expect(f.spentCost).toBe(f.ledgerCost)
      expect(f.spentExecutions).toBe(f.ledgerExecutions)
      expect(await rt.budgets.refreshCounters()).toMatchObject({ changed: 0 })
    })
  })
})
