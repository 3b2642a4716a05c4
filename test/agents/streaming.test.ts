/** Streaming through the real SDKs: deltas, final usage, caller abort and network cut. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { createLedger, createLlmRuntime } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

describe.each(DATABASES)('streaming on %s', (kind) => {
  const db = useDatabase(kind)
  const rt = () =>
    createLlmRuntime(db().client, {
      providers: {
        openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-stream-openai' },
        anthropic: { baseURL: emulator.anthropicBaseURL, apiKey: 'sk-stream-ant' },
      },
    })
  const row = async (id: string) => (await createLedger(db().client).executions({ limit: 200 })).find((r) => r.id === id)!
  const holds = async () => Number((await db().rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_budget_holds'))[0].n)

  it.each([
    ['openai', 'chat', 'gpt-4o-mini'],
    ['openai', 'responses', 'gpt-4.1-nano'],
    ['anthropic', undefined, 'claude-haiku-4-5'],
  ] as const)('%s %s: deltas arrive in order and the budget settles with the final usage', async (provider, api, model) => {
    const agent = rt().defineAgent({ name: `Stream-${provider}`, provider, model, ...(api ? { api } : {}) })
    const text = 'The quick brown fox jumps over the lazy dog.'
    emulator.script(model, { kind: 'ok', text, usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 8 } })
    const stream = agent.stream('tell me', { tenant: 'streamer' })
    const deltas: string[] = []
    for await (const d of stream) deltas.push(d)
    const result = await stream.result
    expect(deltas.length).toBeGreaterThan(3)
    expect(deltas.join('')).toBe(text)
    expect(result.text).toBe(text)
    expect(result.usage).toMatchObject({ inputTokens: 40, outputTokens: 12, cachedInputTokens: 8 })
    const r = await row(result.executionId)
    expect(r).toMatchObject({ status: 'success', inputTokens: 40, outputTokens: 12 })
    expect(r.totalCost.equals(result.cost)).toBe(true)
    expect(r.metadata).toMatchObject({ streamed: true, usageEstimated: false })
  })

  it('a stream aborted by the caller is costed for what was consumed, recorded as cancelled, hold released', async () => {
    const agent = rt().defineAgent({ name: 'Abort', provider: 'anthropic', model: 'claude-sonnet-4-5' })
    emulator.script('claude-sonnet-4-5', { kind: 'ok', text: 'x'.repeat(600), deltaDelayMs: 10 })
    const stream = agent.stream('long answer please', { tenant: 'streamer' })
    let got = ''
    for await (const d of stream) {
      got += d
      if (got.length >= 12) break
    }
    const err = await stream.result.catch((e: unknown) => e)
    expect((err as Error).name).toBe('AbortError')
    const rows = await createLedger(db().client).recentExecutions({ tenantId: 'streamer', limit: 1 })
    expect(rows[0]).toMatchObject({ agentType: 'Abort', status: 'cancelled' })
    expect(rows[0].totalCost.gt(0)).toBe(true)
    expect(rows[0].metadata).toMatchObject({ partial: true })
    expect(await holds()).toBe(0)
  })

  it('a stream cut mid-way by the network is recorded as an error with the consumed part costed', async () => {
    const agent = rt().defineAgent({ name: 'Cut', provider: 'openai', model: 'gpt-4o' })
    emulator.script('gpt-4o', { kind: 'cut', afterDeltas: 3 })
    const stream = agent.stream('this will be cut off in the middle of the answer', { tenant: 'streamer' })
    const got: string[] = []
    const err = await (async () => {
      for await (const d of stream) got.push(d)
    })().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    await stream.result.catch(() => undefined)
    const [r] = await createLedger(db().client).recentExecutions({ tenantId: 'streamer', limit: 1 })
    expect(r).toMatchObject({ agentType: 'Cut', status: 'error' })
    expect(r.outputTokens).toBeGreaterThan(0)
    expect(r.totalCost.gt(0)).toBe(true)
    expect(await holds()).toBe(0)
    expect(await rt().budgets.refreshCounters()).toMatchObject({ changed: 0 })
  })
})
