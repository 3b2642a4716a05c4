/**
 * Tenants' agent configs and product types' templates on both databases: create, change, read and
 * delete, each change audited with only the fields it changed (a change that changes nothing writes
 * nothing), and bad input refused with a typed error naming the field — before anything is written.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import {
  AgentConfigNotFoundError,
  AgentTemplateNotFoundError,
  InvalidArgumentError,
  TenantNotFoundError,
  TenantStore,
  createAgentConfigs,
  createAuditLog,
  llmTenant,
  withActor,
} from '../../src/index.ts'

const count = async (db: TestDatabase, table: string) => Number((await db.rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`))[0].n)
const counts = async (db: TestDatabase) => ({
  configs: await count(db, 'llm_agent_configs'),
  templates: await count(db, 'llm_agent_templates'),
  events: await count(db, 'llm_audit_events'),
  tenants: await count(db, 'llm_tenants'),
})

describe.each(DATABASES)('agent configs on %s', (kind) => {
  const db = useDatabase(kind)

  it('create, change (only the fields given), read, list and delete — each change one audit event of the changed fields', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'crud' })
    const configs = createAgentConfigs(db().client)
    const log = createAuditLog(db().client)
    const created = await withActor({ type: 'user', id: 'admin-1' }, () =>
      configs.setAgentConfig('crud', 'Support', {
        provider: 'openai',
        model: 'gpt-4.1-mini',
        instructions: 'Be brief.',
        toolNames: ['lookup_order'],
        fallbackModels: ['gpt-4o-mini'],
        metadata: { owner: 'team-a', apiKey: 'sk-should-be-redacted-0001' },
      }),
    )
    expect(created).toMatchObject({
      tenantId: 'crud',
      agentName: 'Support',
      provider: 'openai',
      model: 'gpt-4.1-mini',
      instructions: 'Be brief.',
      toolNames: ['lookup_order'],
      maxOutputTokens: null,
      fallbackModels: ['gpt-4o-mini'],
      enabled: true,
      metadata: { owner: 'team-a', apiKey: '[REDACTED]' },
    })
    let [event] = (await log.events({ tenantId: 'crud', limit: 1 })).events
    expect(event).toMatchObject({
      action: 'agent_config.changed',
      actor: { type: 'user', id: 'admin-1' },
      target: { type: 'agent_config', id: 'Support' },
      before: null,
      metadata: { created: true },
    })
    expect(event.after).toMatchObject({ provider: 'openai', model: 'gpt-4.1-mini', toolNames: ['lookup_order'] })

    // Only the fields given change; null sends a list back to "the code's value".
    const changed = await configs.setAgentConfig('crud', 'Support', { model: 'gpt-4o', toolNames: null, maxOutputTokens: 256 })
    expect(changed).toMatchObject({
      id: created.id,
      model: 'gpt-4o',
      toolNames: null,
      maxOutputTokens: 256,
      instructions: 'Be brief.',
      fallbackModels: ['gpt-4o-mini'],
    })
    ;[event] = (await log.events({ tenantId: 'crud', limit: 1 })).events
    expect(event.before).toEqual({ model: 'gpt-4.1-mini', toolNames: ['lookup_order'], maxOutputTokens: null })
    expect(event.after).toEqual({ model: 'gpt-4o', toolNames: null, maxOutputTokens: 256 })

    // A change that changes nothing writes nothing, not even an event.
    const before = await counts(db())
    expect(await configs.setAgentConfig('crud', 'Support', { model: 'gpt-4o', instructions: 'Be brief.' })).toEqual(changed)
    expect(await counts(db())).toEqual(before)

    await configs.setAgentConfig('crud', 'Writer', { provider: 'anthropic', model: 'claude-haiku-4-5', enabled: false })
    expect((await configs.listAgentConfigs('crud')).map((c) => [c.agentName, c.enabled])).toEqual([
      ['Support', true],
      ['Writer', false],
    ])
    expect(await configs.getAgentConfig('crud', 'Nope')).toBeNull()
    expect((await configs.getAgentConfig('crud', 'Support'))?.model).toBe('gpt-4o')

    const deleted = await configs.deleteAgentConfig('crud', 'Writer')
    expect(deleted.agentName).toBe('Writer')
    ;[event] = (await log.events({ tenantId: 'crud', limit: 1 })).events
    expect(event).toMatchObject({ action: 'agent_config.deleted', target: { type: 'agent_config', id: 'Writer' }, after: null })
    expect(event.before).toMatchObject({ provider: 'anthropic', enabled: false })
    await expect(configs.deleteAgentConfig('crud', 'Writer')).rejects.toBeInstanceOf(AgentConfigNotFoundError)
    expect(JSON.stringify((await log.events({ tenantId: 'crud' })).events)).not.toContain('sk-should-be-redacted')
  })

  it('templates per product type: define, change, list, delete, audited without a tenant', async () => {
    const configs = createAgentConfigs(db().client)
    const log = createAuditLog(db().client)
    const t = await configs.defineAgentTemplate('starter', 'Support', { provider: 'openai', model: 'gpt-4o-mini', instructions: 'Help.' })
    expect(t).toMatchObject({ productType: 'starter', agentName: 'Support', source: 'database', toolNames: null, enabled: true })
    await configs.defineAgentTemplate('starter', 'Support', { fallbackModels: ['gpt-4o'] })
    await configs.defineAgentTemplate('starter', 'Triage', { provider: 'anthropic', model: 'claude-haiku-4-5' })
    await configs.defineAgentTemplate('pro', 'Support', { provider: 'openai', model: 'gpt-4.1' })
    const starter = await configs.listAgentTemplates('starter')
    expect(starter.map((x) => [x.agentName, x.model, x.fallbackModels])).toEqual([
      ['Support', 'gpt-4o-mini', ['gpt-4o']],
      ['Triage', 'claude-haiku-4-5', null],
    ])
    const events = (await log.events({ action: ['agent_template.changed', 'agent_template.deleted'] })).events
    expect(events[0]).toMatchObject({ tenantId: null, target: { type: 'agent_template', id: 'pro/Support' } })
    expect(events.find((e) => e.before !== null)).toMatchObject({ before: { fallbackModels: null }, after: { fallbackModels: ['gpt-4o'] } })
    await configs.deleteAgentTemplate('starter', 'Triage')
    expect((await log.events({ limit: 1 })).events[0]).toMatchObject({ action: 'agent_template.deleted', target: { id: 'starter/Triage' } })
    expect((await configs.listAgentTemplates('starter')).map((x) => x.agentName)).toEqual(['Support'])
    await expect(configs.deleteAgentTemplate('starter', 'Triage')).rejects.toBeInstanceOf(AgentTemplateNotFoundError)
  })

  it('bad input is refused with the field and what is allowed, and writes nothing', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'bad' })
    const configs = createAgentConfigs(db().client)
    await configs.setAgentConfig('bad', 'Existing', { provider: 'openai', model: 'gpt-4o-mini' })
    const cases: Array<[string, string, () => Promise<unknown>]> = [
      ['unknown provider', 'input.provider', () => configs.setAgentConfig('bad', 'A', { provider: 'gemini' as never, model: 'x' })],
      ['create without a model', 'input.model', () => configs.setAgentConfig('bad', 'A', { provider: 'openai' })],
      ['create without a provider', 'input.provider', () => configs.setAgentConfig('bad', 'A', { model: 'gpt-4o' })],
      ['unknown key', 'input.temperature', () => configs.setAgentConfig('bad', 'Existing', { temperature: 1 } as never)],
      ['zero output tokens', 'input.maxOutputTokens', () => configs.setAgentConfig('bad', 'Existing', { maxOutputTokens: 0 })],
      ['a tool twice', 'input.toolNames[1]', () => configs.setAgentConfig('bad', 'Existing', { toolNames: ['a', 'a'] })],
      ['tool names not a list', 'input.toolNames', () => configs.setAgentConfig('bad', 'Existing', { toolNames: 'a' as never })],
      ['enabled not boolean', 'input.enabled', () => configs.setAgentConfig('bad', 'Existing', { enabled: 'no' as never })],
      ['metadata an array', 'input.metadata', () => configs.setAgentConfig('bad', 'Existing', { metadata: [] as never })],
      ['bad agent name', 'agentName', () => configs.setAgentConfig('bad', 'has space', { provider: 'openai', model: 'gpt-4o' })],
      ['bad audit option', 'audit.actor.type', () => configs.setAgentConfig('bad', 'Existing', { model: 'gpt-4o' }, { actor: { type: '' } })],
      ['template metadata', 'input.metadata', () => configs.defineAgentTemplate('starter', 'A', { provider: 'openai', model: 'x', metadata: {} } as never)],
      ['bad product type', 'productType', () => configs.defineAgentTemplate('has space', 'A', { provider: 'openai', model: 'x' })],
      ['template without provider', 'input.provider', () => configs.defineAgentTemplate('starter', 'New', { model: 'x' })],
    ]
    const before = await counts(db())
    for (const [name, field, run] of cases) {
      const err = await run().then(
        () => null,
        (e: unknown) => e,
      )
      expect(err, name).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).field, name).toBe(field)
    }
    const provider = (await configs.setAgentConfig('bad', 'A', { provider: 'gemini' as never, model: 'x' }).catch((e) => e)) as InvalidArgumentError
    expect(provider.allowed).toBe('openai, anthropic')
    await expect(configs.setAgentConfig('missing-tenant', 'A', { provider: 'openai', model: 'gpt-4o' })).rejects.toBeInstanceOf(TenantNotFoundError)
    expect(await counts(db())).toEqual(before)
    expect((await configs.getAgentConfig('bad', 'Existing'))?.model).toBe('gpt-4o-mini')
  })

  it('concurrent first writes of one config: one creates, the other updates; one row', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'race' })
    const configs = createAgentConfigs(db().client)
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => configs.setAgentConfig('race', 'Support', { provider: 'openai', model: 'gpt-4o-mini', maxOutputTokens: 100 + i })),
    )
    expect(new Set(results.map((r) => r.id)).size).toBe(1)
    expect(await configs.listAgentConfigs('race')).toHaveLength(1)
  })

  it('through the extension: record.llmSetAgentConfig / llmAgentConfigs and $llm.agentConfigs', async () => {
    await db().client.$executeRawUnsafe(
      kind === 'sqlite'
        ? `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`
        : `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
    )
    const prisma = db().client.$extends(llmTenant({ model: 'organization', id: 'slug', name: 'displayName' }))
    const org = await prisma.organization.create({ data: { id: 'ext-1', slug: 'ext-org', displayName: 'Ext' } })
    const before = await counts(db())
    await expect(org.llmSetAgentConfig('Support', { provider: 'nope' as never, model: 'x' })).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(await counts(db())).toEqual(before) // the tenant row is not created for a refused change
    await org.llmSetAgentConfig('Support', { provider: 'openai', model: 'gpt-4o' })
    expect((await org.llmAgentConfigs()).map((c) => c.model)).toEqual(['gpt-4o'])
    expect((await prisma.$llm.agentConfigs.getAgentConfig('ext-org', 'Support'))?.provider).toBe('openai')
  })
})
