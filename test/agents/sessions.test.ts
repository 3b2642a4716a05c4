/**
 * Agent runs and streams with `session`: the history loaded before the input, the turn appended
 * after the call in one transaction (tool round trips included; concurrent turns land whole), the
 * session always the call's tenant's (explicit or withTenant — never from the id), nothing appended
 * by a failed run, and the storage quota refused before the call when full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLlmRuntime, createPlans, withTenant } from '../../src/index.ts'
import { SessionQuotaExceededError, SessionTenantRequiredError } from '../../src/sessions/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

describe.each(DATABASES)('agent runs with a session on %s', (kind) => {
  const db = useDatabase(kind)
  const runtime = () =>
    createLlmRuntime(db().client, {
      config: { tenantCacheTtlMs: 0 },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-sessions-test' } },
    })
  const sent = () =>
    emulator.requests
      .at(-1)!
      .body.messages.filter((m: { role: string }) => m.role !== 'system')
      .map((m: { role: string; content: string }) => [m.role, m.content])

  it('loads the history before the input and appends the turn after the call; the tenant is the call’s', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Be brief.' })
    const first = await agent.run('hi', { tenant: 'acme', session: 'conv' })
    expect(first.text).toBe('Echo: hi')
    const second = await agent.run('again', { tenant: 'acme', session: 'conv' })
    expect(sent()).toEqual([
      ['user', 'hi'],
      ['assistant', 'Echo: hi'],
      ['user', 'again'],
    ])
    expect(second.messages.map((m) => m.content)).toEqual(['hi', 'Echo: hi', 'again', 'Echo: again'])
    expect(await rt.sessions.session('acme', 'conv').getItems()).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Echo: hi' },
      { role: 'user', content: 'again' },
      { role: 'assistant', content: 'Echo: again' },
    ])
    // The answer records the run's output tokens; the session its agent.
    const [row] = await db().rawQuery<{ tokens: number }>(
      `SELECT tokens FROM llm_session_items WHERE tenant_id = 'acme' AND session_id = 'conv' AND sequence = 4`,
    )
    expect(Number(row.tokens)).toBe(second.usage.outputTokens)
    expect((await rt.sessions.listSessions('acme')).sessions[0]).toMatchObject({ sessionId: 'conv', agent: 'Support', itemCount: 4 })
    // Same id, another tenant (here through withTenant): another conversation.
    await withTenant('globex', () => agent.run('hello', { session: 'conv' }))
    expect(sent()).toEqual([['user', 'hello']])
    expect(await rt.sessions.session('globex', 'conv').getItems()).toHaveLength(2)
    expect(await rt.sessions.session('acme', 'conv').getItems()).toHaveLength(4)
  })

  it('streams: the deltas, then the turn appended before `result` resolves', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Streamer', provider: 'openai', model: 'gpt-4o-mini' })
    await agent.run('one', { tenant: 'acme', session: 'stream' })
    const stream = agent.stream('two', { tenant: 'acme', session: 'stream' })
    let text = ''
    for await (const delta of stream) text += delta
    expect(text).toBe('Echo: two')
    await stream.result
    expect(emulator.requests.at(-1)!.stream).toBe(true)
    expect(sent()).toEqual([
      ['user', 'one'],
      ['assistant', 'Echo: one'],
      ['user', 'two'],
    ])
    expect(((await rt.sessions.session('acme', 'stream').getItems()) as Array<{ content: string }>).map((i) => i.content)).toEqual([
      'one',
      'Echo: one',
      'two',
      'Echo: two',
    ])
  })

  it('a tool round trip is stored whole and replayed as the provider expects it', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({
      name: 'Tools',
      provider: 'openai',
      model: 'gpt-4o-mini',
      tools: [{ name: 'order', description: 'Looks an order up', parameters: { type: 'object', properties: {} }, run: () => 'shipped' }],
    })
    emulator.script('gpt-4o-mini', { kind: 'tool', name: 'order', arguments: { id: 7 } }, { kind: 'ok', text: 'It shipped.' })
    await agent.run('where is order 7?', { tenant: 'acme', session: 'tools' })
    const items = (await rt.sessions.session('acme', 'tools').getItems()) as Array<{ role: string }>
    expect(items.map((i) => i.role)).toEqual(['user', 'assistant', 'tool', 'assistant'])
    await agent.run('thanks', { tenant: 'acme', session: 'tools' })
    const body = emulator.requests.at(-1)!.body
    expect(body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user'])
    expect(body.messages[1].tool_calls[0]).toMatchObject({ function: { name: 'order' } })
  })

  it('concurrent turns on one session each land whole (question then its answer), in one order', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Busy', provider: 'openai', model: 'gpt-4o-mini' })
    await Promise.all(Array.from({ length: 6 }, (_, i) => agent.run(`q${i}`, { tenant: 'acme', session: 'busy' })))
    const items = (await rt.sessions.session('acme', 'busy').getItems()) as Array<{ role: string; content: string }>
    expect(items).toHaveLength(12)
    for (let i = 0; i < 12; i += 2) {
      expect(items[i].role).toBe('user')
      expect(items[i + 1]).toEqual({ role: 'assistant', content: `Echo: ${items[i].content}` })
    }
    expect(new Set(items.filter((x) => x.role === 'user').map((x) => x.content)).size).toBe(6)
  })

  it('refuses a session without a tenant, and a bad id, before any call; a failed run appends nothing', async () => {
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Strict', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    const before = emulator.requests.length
    await expect(agent.run('hi', { tenant: null, session: 'nobody' })).rejects.toBeInstanceOf(SessionTenantRequiredError)
    await expect(agent.run('hi', { tenant: 'acme', session: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options.session' })
    expect(emulator.requests.length).toBe(before)
    emulator.script('gpt-4o-mini', { kind: 'error', status: 500 })
    await expect(agent.run('boom', { tenant: 'acme', session: 'failed' })).rejects.toThrow()
    expect(await rt.sessions.session('acme', 'failed').getItems()).toEqual([])
  })

  it('the storage quota: a full tenant is refused before the call; a turn past it is not kept, its result attached', async () => {
    await createPlans(db().client).definePlan({ key: 'tiny-chat', name: 'Tiny chat', sessions: { storageBytes: 120 } })
    await createPlans(db().client).changePlan('tiny', 'tiny-chat')
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Quota', provider: 'openai', model: 'gpt-4o-mini' })
    await agent.run('a', { tenant: 'tiny', session: 's' }) // 2 items: 29 + 40 bytes
    const err = await agent.run('bb', { tenant: 'tiny', session: 's' }).catch((e: unknown) => e) // + 30 + 41 > 120
    expect(err).toBeInstanceOf(SessionQuotaExceededError)
    expect(err).toMatchObject({ usedBytes: 69n, requestedBytes: 71n, limitBytes: 120n })
    expect((err as SessionQuotaExceededError).result).toMatchObject({ text: 'Echo: bb' }) // the call was made
    expect(await rt.sessions.session('tiny', 's').getItems()).toHaveLength(2)
    await rt.sessions.session('tiny', 's').addItems([{ role: 'user', content: 'x'.repeat(23) }]) // 51 bytes: exactly 120
    const calls = emulator.requests.length
    await expect(agent.run('c', { tenant: 'tiny', session: 's' })).rejects.toBeInstanceOf(SessionQuotaExceededError)
    expect(emulator.requests.length).toBe(calls) // refused before the model was called
  })
})
