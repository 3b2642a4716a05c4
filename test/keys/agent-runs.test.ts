/**
 * Agent runs and streams made with a tenant API key: every ledger row of the run carries the key's
 * id (refusals too), and the key's own limits refuse a run before the provider is called — the
 * official SDKs against the local emulator, both databases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { TenantStore, createApiKeys, createLedger, createLlmRuntime } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

describe.each(DATABASES)('agent runs with a tenant API key on %s', (kind) => {
  const db = useDatabase(kind)

  it('runs and streams record the key; the key’s own limit refuses before the provider is called', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'keyed-runs', enforcement: 'hard' })
    const keys = createApiKeys(db().client)
    const { key, secret } = await keys.createApiKey('keyed-runs', { name: 'ci', limits: { dailyExecutions: 2 } })
    const auth = await keys.verifyApiKey(secret)
    const runtime = createLlmRuntime(db().client, {
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-platform-openai-0001' } },
      config: { refusalBackoffMs: 0 },
    })
    const agent = runtime.defineAgent({ name: 'Support', provider: 'openai', model: 'gpt-4o-mini' })
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'one', usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 } })
    const run = await agent.run('hello', { tenant: auth.tenantId, apiKeyId: auth.key.id })
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'two', usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 } })
    const stream = agent.stream('hello', { tenant: auth.tenantId, apiKeyId: auth.key.id })
    let text = ''
    for await (const delta of stream) text += delta
    expect(text).toBe('two')
    const before = emulator.requests.length
    await expect(agent.run('hello', { tenant: auth.tenantId, apiKeyId: auth.key.id })).rejects.toMatchObject({
      name: 'BudgetExceededError',
      scope: 'api_key',
      apiKeyId: key.id,
    })
    expect(emulator.requests.length).toBe(before)
    // Without the key, the tenant itself has room.
    emulator.script('gpt-4o-mini', { kind: 'ok', text: 'three', usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 } })
    await agent.run('hello', { tenant: auth.tenantId })
    const rows = await createLedger(db().client).recentExecutions({ tenantId: 'keyed-runs', includeRefused: true, limit: 10 })
    expect(rows.map((r) => [r.status, r.apiKeyId]).reverse()).toEqual([
      ['success', key.id],
      ['success', key.id],
      ['refused', key.id],
      ['success', null],
    ])
    expect(rows.some((r) => r.id === run.executionId)).toBe(true)
    await expect(agent.run('hello', { tenant: auth.tenantId, apiKeyId: '' })).rejects.toMatchObject({ field: 'options.apiKeyId' })
  })
})
