/**
 * `POST /v1/agents/:name/run` with `stream: true` over real HTTP, on both databases: Server-Sent
 * Events read with fetch and with the official OpenAI SDK's stream reader; a refusal before the
 * first delta is a plain JSON 429; a client that disconnects mid-stream aborts the provider call —
 * one `cancelled` ledger row costed once for what was consumed, its hold released, the counters
 * equal to the ledger.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLedger, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { call, eventually, startApi, type Api } from './server.ts'

interface Event {
  event: string
  data: any
}

/** Parses an SSE body into its events (the whole stream). */
function parseSse(text: string): Event[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n')
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message'
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6) ?? ''
      return { event, data: JSON.parse(data) }
    })
}

const stream = (api: Api, key: string, input: string, agent = 'support', signal?: AbortSignal) =>
  call(api, `/v1/agents/${agent}/run`, { key, method: 'POST', body: JSON.stringify({ input, stream: true }), signal })

describe.each(DATABASES)('streamed runs over HTTP on %s', (kind) => {
  const db = useDatabase(kind)
  let api: Api
  const ledger = () => createLedger(db().client)
  const holds = async () => Number((await db().rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_budget_holds'))[0].n)

  beforeAll(async () => {
    api = await startApi(db())
    api.runtime.defineAgent({ name: 'slow', provider: 'openai', model: 'gpt-4o', retries: 0 })
  })
  afterAll(async () => api?.close())

  it('answers text/event-stream: delta events in order, then done with usage and exact cost', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.'
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text, usage: { inputTokens: 40, outputTokens: 12 } })
    const r = await stream(api, api.acme.secret, 'tell me')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const requestId = r.headers.get('x-request-id')
    const events = parseSse(await r.text())
    const deltas = events.filter((e) => e.event === 'delta')
    expect(deltas.length).toBeGreaterThan(3)
    expect(deltas.map((d) => d.data.text).join('')).toBe(text)
    const done = events.at(-1)!
    expect(done.event).toBe('done')
    expect(done.data).toMatchObject({ type: 'done', text, traceId: requestId, usage: { inputTokens: 40, outputTokens: 12 } })
    const [row] = await ledger().recentExecutions({ tenantId: 'acme', limit: 1 })
    expect(row).toMatchObject({ id: done.data.executionId, status: 'success', apiKeyId: api.acme.keyId, traceId: requestId })
    expect(row.totalCost.toFixed()).toBe(done.data.cost)
  })

  it("the OpenAI SDK's stream reader reads the events; an event: error becomes its APIError", async () => {
    const client = new OpenAI({ apiKey: api.acme.secret, baseURL: `${api.base}/v1`, maxRetries: 0 })
    api.emulator.script('gpt-4o-mini', { kind: 'ok', text: 'streamed through the SDK' })
    const s = (await client.post('/agents/support/run', { body: { input: 'x', stream: true }, stream: true })) as unknown as AsyncIterable<any>
    const got: any[] = []
    for await (const e of s) got.push(e)
    expect(
      got
        .filter((e) => e.type === 'delta')
        .map((e) => e.text)
        .join(''),
    ).toBe('streamed through the SDK')
    expect(got.at(-1)).toMatchObject({ type: 'done', text: 'streamed through the SDK' })
    // Cut after the first deltas: the failure arrives as an error event.
    api.emulator.script('claude-haiku-4-5', { kind: 'cut', afterDeltas: 2 })
    const cut = (await client.post('/agents/writer/run', { body: { input: 'x'.repeat(80), stream: true }, stream: true })) as unknown as AsyncIterable<any>
    const err = await (async () => {
      for await (const _ of cut);
    })().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as any).error).toMatchObject({ type: 'provider_error' })
  })

  it('a refusal before the first delta is a JSON 429, not a stream', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'initech', enforcement: 'hard', limits: { dailyExecutions: 0 } })
    const { secret } = await api.keys.createApiKey('initech', { name: 'main' })
    const r = await stream(api, secret, 'x')
    expect(r.status).toBe(429)
    expect(r.headers.get('content-type')).toContain('application/json')
    expect(((await r.json()) as any).error).toMatchObject({ type: 'budget_exceeded', limitType: 'dailyExecutions', window: 'day' })
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  })

  it('a client that disconnects mid-stream aborts the provider call: cancelled, costed once, hold released', async () => {
    api.emulator.script('gpt-4o', { kind: 'ok', text: 'x'.repeat(2000), deltaDelayMs: 10 })
    const before = api.emulator.requests.length
    const controller = new AbortController()
    const r = await stream(api, api.globex.secret, 'a long answer, please', 'slow', controller.signal)
    expect(r.status).toBe(200)
    const requestId = r.headers.get('x-request-id')!
    const reader = r.body!.getReader()
    let received = ''
    while (received.split('event: delta').length < 5) received += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    await reader.read().catch(() => undefined)
    await eventually(async () => {
      const rows = (await ledger().executions({ tenant: { id: 'globex' }, limit: 50 })).filter((e) => e.traceId === requestId)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ status: 'cancelled', agentType: 'slow', apiKeyId: api.globex.keyId })
      expect(rows[0].totalCost.gt(0)).toBe(true)
      expect(rows[0].outputTokens).toBeLessThan(500) // charged for what was streamed, not the whole answer
      expect(await holds()).toBe(0)
    })
    expect(api.emulator.requests.length).toBe(before + 1) // no retry after the disconnect
    expect(await api.runtime.budgets.refreshCounters()).toMatchObject({ changed: 0 })
    const usage = (await (await call(api, '/v1/usage?period=today', { key: api.globex.secret })).json()) as any
    const rows = await ledger().usageSummary({ tenantId: 'globex', period: 'today' })
    expect(usage.cost).toBe(rows.cost.toFixed())
  })

  it('a client that disconnects while a non-streamed run waits aborts it too', async () => {
    api.emulator.script('gpt-4o', { kind: 'hang', ms: 5000 })
    const controller = new AbortController()
    const pending = call(api, '/v1/agents/slow/run', {
      key: api.globex.secret,
      method: 'POST',
      body: JSON.stringify({ input: 'wait' }),
      signal: controller.signal,
    }).catch((e: unknown) => e)
    await eventually(async () => expect(api.emulator.requests.at(-1)?.body.messages?.at(-1)?.content).toBe('wait'))
    controller.abort()
    expect(await pending).toBeInstanceOf(Error)
    await eventually(async () => {
      const [row] = await ledger().recentExecutions({ tenantId: 'globex', limit: 1 })
      expect(row.status).toBe('cancelled')
      expect(await holds()).toBe(0)
    })
  })
})
