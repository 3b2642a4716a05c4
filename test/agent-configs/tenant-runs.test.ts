/**
 * Agents resolve a tenant's config at call time (the official SDKs against the local emulator,
 * real databases): a tenant with a config runs that config's provider, model, instructions, output
 * cap, fallbacks and tools; another tenant runs the code's defaults; a disabled config is refused
 * before any reservation; a write in this process takes effect at the next run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  AdmissionError,
  AgentDisabledError,
  TenantStore,
  UnknownAgentError,
  createAgentConfigs,
  createLedger,
  createLlmRuntime,
  llmTenant,
  type AgentTool,
} from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const KEYS: Record<string, Record<string, string>> = {
  configured: { openai: 'sk-configured-openai-0001', anthropic: 'sk-ant-configured-0001' },
  plain: { openai: 'sk-plain-openai-0002' },
  off: { openai: 'sk-off-openai-0003' },
}
const tool = (name: string): AgentTool => ({ name, description: name, parameters: { type: 'object', properties: {} }, run: () => name })

describe.each(DATABASES)('agent runs with tenant configs on %s', (kind) => {
  const db = useDatabase(kind)
  // A long TTL: what the tests see after a write is this process's invalidation, not an expiry.
  const runtime = () =>
    createLlmRuntime(db().client, {
      config: { tenantCacheTtlMs: 3_600_000 },
      providers: { openai: { baseURL: emulator.openaiBaseURL }, anthropic: { baseURL: emulator.anthropicBaseURL } },
      tenantApiKeys: async (t) => KEYS[t.tenantId] ?? {},
    })
  const executions = async () => (await createLedger(db().client).executions({ limit: 1000, includeRefused: true })).length

  it('a tenant with a config runs its model, instructions, output cap and tools; another tenant the code defaults', async () => {
    const store = new TenantStore(db().client)
    for (const tenantId of ['configured', 'plain']) await store.upsert({ tenantId })
    await createAgentConfigs(db().client).setAgentConfig('configured', 'Support', {
      provider: 'openai',
      model: 'gpt-4.1-mini',
      instructions: 'Answer like a pirate.',
      maxOutputTokens: 64,
      toolNames: ['lookup_order'],
    })
    const rt = runtime()
    rt.defineAgent({
      name: 'Support',
      provider: 'openai',
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      maxOutputTokens: 512,
      tools: [tool('lookup_order'), tool('refund')],
    })
    const agent = rt.agent('Support')

    const configured = await agent.run('hello', { tenant: 'configured' })
    const sent = emulator.requests.at(-1)!
    expect(configured.model).toBe('gpt-4.1-mini')
    expect(sent).toMatchObject({ api: 'chat', model: 'gpt-4.1-mini', apiKey: 'sk-configured-openai-0001' })
    expect(sent.body.messages[0]).toEqual({ role: 'system', content: 'Answer like a pirate.' })
    expect(sent.body.max_completion_tokens).toBe(64)
    expect(sent.body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['lookup_order'])

    const plain = await agent.run('hello', { tenant: 'plain' })
    const sentPlain = emulator.requests.at(-1)!
    expect(plain.model).toBe('gpt-4o-mini')
    expect(sentPlain).toMatchObject({ model: 'gpt-4o-mini', apiKey: 'sk-plain-openai-0002' })
    expect(sentPlain.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' })
    expect(sentPlain.body.max_completion_tokens).toBe(512)
    expect(sentPlain.body.tools).toHaveLength(2)

    // The ledger rows name the model each tenant's run used.
    const rows = await createLedger(db().client).executions({ limit: 10 })
    expect(rows.find((r) => r.id === configured.executionId)).toMatchObject({ tenantId: 'configured', agentType: 'Support', model: 'gpt-4.1-mini' })
    expect(rows.find((r) => r.id === plain.executionId)).toMatchObject({ tenantId: 'plain', model: 'gpt-4o-mini' })
  })

  it('a config may move the agent to another provider and give its own fallbacks; streams use it too', async () => {
    const configs = createAgentConfigs(db().client)
    await new TenantStore(db().client).upsert({ tenantId: 'configured' })
    await configs.setAgentConfig('configured', 'Writer', { provider: 'anthropic', model: 'claude-sonnet-4', fallbackModels: ['claude-haiku-4-5'] })
    const agent = runtime().defineAgent({ name: 'Writer', provider: 'openai', model: 'gpt-4o-mini', api: 'responses', retries: 0 })
    emulator.script('claude-sonnet-4', { kind: 'error', status: 500 })
    const result = await agent.run('write', { tenant: 'configured' })
    expect(result.model).toBe('claude-haiku-4-5')
    expect(result.attempts.map((a) => [a.model, a.status])).toEqual([
      ['claude-sonnet-4', 'error'],
      ['claude-haiku-4-5', 'success'],
    ])
    expect(emulator.requests.at(-1)).toMatchObject({ provider: 'anthropic', api: 'messages', apiKey: 'sk-ant-configured-0001' })

    const stream = agent.stream('write', { tenant: 'configured' })
    let text = ''
    for await (const delta of stream) text += delta
    expect((await stream.result).model).toBe('claude-sonnet-4')
    expect(text.length).toBeGreaterThan(0)
    expect(emulator.requests.at(-1)).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4', stream: true })
  })

  it('a disabled config is refused before any reservation; enabling it again takes effect at the next run in this process', async () => {
    const configs = createAgentConfigs(db().client)
    await new TenantStore(db().client).upsert({ tenantId: 'off' })
    await configs.setAgentConfig('off', 'Support', { provider: 'openai', model: 'gpt-4o-mini', enabled: false })
    const rt = runtime()
    const agent = rt.defineAgent({ name: 'Support', provider: 'openai', model: 'gpt-4o-mini' })
    const rowsBefore = await executions()
    const requestsBefore = emulator.requests.length
    const err = await agent.run('hi', { tenant: 'off' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AgentDisabledError)
    expect(err).toMatchObject({ code: 'AGENT_DISABLED', tenantId: 'off', agentName: 'Support' })
    await expect(agent.stream('hi', { tenant: 'off' }).result).rejects.toBeInstanceOf(AgentDisabledError)
    expect(await executions()).toBe(rowsBefore)
    expect(emulator.requests.length).toBe(requestsBefore)

    // The runtime cached the disabled config (TTL one hour): this process's write is seen at once.
    await configs.setAgentConfig('off', 'Support', { enabled: true, model: 'gpt-4.1-mini' })
    expect((await agent.run('hi', { tenant: 'off' })).model).toBe('gpt-4.1-mini')
    await configs.deleteAgentConfig('off', 'Support')
    expect((await agent.run('hi', { tenant: 'off' })).model).toBe('gpt-4o-mini')
    // Without a tenant there is no config to apply.
    expect((await agent.run('hi', { tenant: null, apiKeys: { openai: 'sk-no-tenant-0004' } })).model).toBe('gpt-4o-mini')
  })

  it('a config lookup that fails: failMode closed refuses the run, open runs the code’s definition', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'plain' })
    const make = (failMode: 'closed' | 'open') =>
      createLlmRuntime(db().client, {
        config: { tenantCacheTtlMs: 0, failMode },
        providers: { openai: { baseURL: emulator.openaiBaseURL } },
        tenantApiKeys: async (t) => KEYS[t.tenantId] ?? {},
      }).defineAgent({ name: 'Lookup', provider: 'openai', model: 'gpt-4o-mini' })
    await db().rawQuery('ALTER TABLE llm_agent_configs RENAME TO llm_agent_configs_away')
    try {
      await expect(make('closed').run('hi', { tenant: 'plain' })).rejects.toBeInstanceOf(AdmissionError)
      expect((await make('open').run('hi', { tenant: 'plain' })).model).toBe('gpt-4o-mini')
    } finally {
      await db().rawQuery('ALTER TABLE llm_agent_configs_away RENAME TO llm_agent_configs')
    }
  })

  it('the registry: runtime.agent(name) is the latest definition of that name; an unknown name is a typed error', async () => {
    const rt = runtime()
    const first = rt.defineAgent({ name: 'Registry', provider: 'openai', model: 'gpt-4o-mini' })
    expect(rt.agent('Registry')).toBe(first)
    const second = rt.defineAgent({ name: 'Registry', provider: 'openai', model: 'gpt-4o' })
    expect(rt.agent('Registry')).toBe(second)
    const err = (() => {
      try {
        rt.agent('Missing')
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(UnknownAgentError)
    expect((err as Error).message).toContain('defined: Registry')
  })

  it('through the extension: $llm.agent(name) runs with the record’s config', async () => {
    await db().client.$executeRawUnsafe(
      kind === 'sqlite'
        ? `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`
        : `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
    )
    const prisma = db().client.$extends(
      llmTenant({
        model: 'organization',
        id: 'slug',
        apiKeys: { openai: 'openaiApiKey' },
        budget: true,
        providers: { openai: { baseURL: emulator.openaiBaseURL } },
      }),
    )
    const org = await prisma.organization.create({ data: { id: 'run-1', slug: 'run-org', displayName: 'Run', openaiApiKey: 'sk-run-org-openai-0005' } })
    await org.llmSetAgentConfig('Concierge', { provider: 'openai', model: 'gpt-4.1-mini', instructions: 'Per-tenant.' })
    prisma.$llm.defineAgent({ name: 'Concierge', provider: 'openai', model: 'gpt-4o-mini' })
    const result = await prisma.$llm.agent('Concierge').run('hi', { tenant: org })
    expect(result.model).toBe('gpt-4.1-mini')
    expect(emulator.requests.at(-1)?.body.messages[0]).toEqual({ role: 'system', content: 'Per-tenant.' })
  })
})
