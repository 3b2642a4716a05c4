/**
 * The audit log on both databases: every admin entry point the library offers leaves one event
 * per change it makes (one for a change to one thing), attributed to the ambient or given actor, holding only the changed fields (secrets
 * redacted), written in the change's own transaction (an event that cannot be written undoes the
 * change), and read back newest first in keyset pages.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import {
  AUDIT_ACTIONS,
  InvalidArgumentError,
  TenantStore,
  LlmProvisioning,
  createAgentConfigs,
  createApiKeys,
  createAuditLog,
  createPlans,
  defineLlmConfig,
  llmTenant,
  withActor,
  type AuditEventRecord,
} from '../../src/index.ts'

const ORG_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
}
const config = defineLlmConfig({ budgets: { enforcement: 'hard' } })

async function eventCount(db: TestDatabase): Promise<number> {
  const [row] = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_audit_events')
  return Number(row.n)
}

describe.each(DATABASES)('audit log on %s', (kind) => {
  const db = useDatabase(kind)
  const prisma = () => db().client.$extends(llmTenant({ model: 'organization', id: 'slug', name: 'displayName', budget: true, config }))

  it('every admin entry point leaves one event per change, with its action, target and actor', async () => {
    await db().client.$executeRawUnsafe(ORG_DDL[kind])
    const store = new TenantStore(db().client)
    const plans = createPlans(db().client, config)
    const keys = createApiKeys(db().client, { config })
    const agentConfigs = createAgentConfigs(db().client, config)
    const provisioning = new LlmProvisioning(db().client, config, { keys })
    await store.upsert({ tenantId: 'base' })
    await plans.definePlan({ key: 'base-plan', name: 'Base' })
    await plans.changePlan('base', 'base-plan')
    const org = await prisma().organization.create({ data: { id: 'o1', slug: 'org', displayName: 'Org' } })
    let keyId = ''
    const entryPoints: Array<[name: string, action: string, run: () => Promise<unknown>]> = [
      ['TenantStore.upsert (new)', 'tenant.created', () => store.upsert({ tenantId: 'fresh' })],
      ['TenantStore.upsert (existing)', 'tenant.limits.changed', () => store.upsert({ tenantId: 'fresh', limits: { dailyCost: '5' } })],
      ['TenantStore.update', 'tenant.updated', () => store.update('fresh', { name: 'Fresh' })],
      ['TenantStore.update active', 'tenant.deactivated', () => store.update('fresh', { active: false })],
      ['record.llmConfigure', 'tenant.limits.changed', () => org.llmConfigure({ limits: { dailyExecutions: 9 } })],
      ['static llmDeactivate', 'tenant.deactivated', () => prisma().organization.llmDeactivate('org')],
      ['static llmActivate', 'tenant.activated', () => prisma().organization.llmActivate('org')],
      ['host create (budget: true)', 'tenant.created', () => prisma().organization.create({ data: { id: 'o2', slug: 'org2', displayName: 'Org 2' } })],
      ['plans.definePlan', 'plan.defined', () => plans.definePlan({ key: 'pro', name: 'Pro', limits: { dailyExecutions: 10 } })],
      ['plans.updatePlan', 'plan.updated', () => plans.updatePlan('pro', { name: 'Pro 2' })],
      ['plans.changePlan', 'plan.changed', () => plans.changePlan('base', 'pro')],
      ['record.llmChangePlan', 'plan.changed', () => org.llmChangePlan('pro', { at: 'period_end' })],
      ['plans.updatePlan (new version)', 'plan.updated', () => plans.updatePlan('pro', { limits: { dailyExecutions: 20 } })],
      ['plans.movePlanVersion', 'plan.changed', () => plans.movePlanVersion('pro', { from: 1, to: 2 })],
      ['plans.deletePlan', 'plan.deleted', () => plans.definePlan({ key: 'gone', name: 'Gone' }).then(() => plans.deletePlan('gone'))],
      ['keys.createApiKey', 'api_key.created', async () => (keyId = (await keys.createApiKey('base', { name: 'p' })).key.id)],
      ['record.llmCreateApiKey', 'api_key.created', () => org.llmCreateApiKey({ name: 'q' })],
      ['keys.updateApiKey', 'api_key.updated', () => keys.updateApiKey(keyId, { limits: { dailyCost: '1' } })],
      ['keys.rotateApiKey', 'api_key.rotated', () => keys.rotateApiKey(keyId, { gracePeriod: '1m' })],
      ['keys.revokeApiKey', 'api_key.revoked', () => keys.revokeApiKey(keyId)],
      [
        'agentConfigs.setAgentConfig (new)',
        'agent_config.changed',
        () => agentConfigs.setAgentConfig('base', 'Support', { provider: 'openai', model: 'gpt-4o' }),
      ],
      ['agentConfigs.setAgentConfig', 'agent_config.changed', () => agentConfigs.setAgentConfig('base', 'Support', { model: 'gpt-4o-mini' })],
      ['record.llmSetAgentConfig', 'agent_config.changed', () => org.llmSetAgentConfig('Support', { provider: 'anthropic', model: 'claude-sonnet-4-5' })],
      ['agentConfigs.deleteAgentConfig', 'agent_config.deleted', () => agentConfigs.deleteAgentConfig('base', 'Support')],
      [
        'agentConfigs.defineAgentTemplate',
        'agent_template.changed',
        () => agentConfigs.defineAgentTemplate('desk', 'Triage', { provider: 'openai', model: 'gpt-4o-mini' }),
      ],
      [
        'provisioning.provisionTenant',
        'tenant.provisioned',
        () => provisioning.provisionTenant({ tenantId: 'provisioned', idempotencyKey: 'idem-1', productType: 'desk', plan: 'base-plan' }),
      ],
      [
        'static llmProvisionTenant',
        'tenant.provisioned',
        () => prisma().organization.llmProvisionTenant({ tenantId: 'provisioned-2', idempotencyKey: 'idem-2' }),
      ],
      ['agentConfigs.deleteAgentTemplate', 'agent_template.deleted', () => agentConfigs.deleteAgentTemplate('desk', 'Triage')],
    ]
    const log = createAuditLog(db().client, config)
    for (const [name, action, run] of entryPoints) {
      const before = await eventCount(db())
      await withActor({ type: 'user', id: 'u-42', requestId: `req-${name}` }, run)
      const after = await eventCount(db())
      // plans.deletePlan's line also defines the plan first: two changes, two events; the move
      // changes two tenants ('base' on version 1 now, 'org' scheduled onto it at period end).
      expect(after - before, name).toBe(name === 'plans.deletePlan' || name === 'plans.movePlanVersion' ? 2 : 1)
      const [newest] = (await log.events({ limit: 1 })).events
      expect(newest, name).toMatchObject({ action, actor: { type: 'user', id: 'u-42' }, requestId: `req-${name}` })
    }
    // Each action the library names is one of AUDIT_ACTIONS.
    const actions = new Set((await log.events({ limit: 500 })).events.map((e) => e.action))
    for (const a of actions) expect(AUDIT_ACTIONS as readonly string[]).toContain(a)
  })

  it('events hold the changed fields only, redact secrets, and fall back to the system actor; an option wins over withActor', async () => {
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'diff', name: 'Diff', limits: { dailyCost: '1.50' } })
    await withActor({ type: 'user', id: 'ambient' }, () =>
      store.update(
        'diff',
        { limits: { dailyCost: '2.25' }, metadata: { apiKey: 'sk-live-should-not-appear', plan: 'x' } },
        { actor: { type: 'job', id: 'nightly' } },
      ),
    )
    const log = createAuditLog(db().client, config)
    const [event] = (await log.events({ tenantId: 'diff', limit: 1 })).events
    expect(event.actor).toEqual({ type: 'job', id: 'nightly' })
    expect(event.action).toBe('tenant.limits.changed')
    expect(Object.keys(event.before as object).sort()).toEqual(['limits', 'metadata'])
    expect((event.before as { limits: { dailyCost: string } }).limits.dailyCost).toBe('1.5')
    expect((event.after as { limits: { dailyCost: string } }).limits.dailyCost).toBe('2.25')
    expect(JSON.stringify(event)).not.toContain('sk-live-should-not-appear')
    await store.update('diff', { name: 'Diff 2' })
    const [system] = (await log.events({ tenantId: 'diff', limit: 1 })).events
    expect(system).toMatchObject({ actor: { type: 'system', id: null }, before: { name: 'Diff' }, after: { name: 'Diff 2' } })
  })

  it('an event that cannot be written undoes its change (same transaction)', async () => {
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'atomic', name: 'Before' })
    const before = await eventCount(db())
    await db().rawQuery('ALTER TABLE llm_audit_events RENAME TO llm_audit_events_off')
    try {
      await expect(store.update('atomic', { name: 'After' })).rejects.toThrow()
      await expect(createPlans(db().client, config).definePlan({ key: 'never', name: 'Never' })).rejects.toThrow()
      await expect(createApiKeys(db().client, { config }).createApiKey('atomic', { name: 'never' })).rejects.toThrow()
    } finally {
      await db().rawQuery('ALTER TABLE llm_audit_events_off RENAME TO llm_audit_events')
    }
    expect((await store.find('atomic'))?.name).toBe('Before')
    expect(await db().rawQuery(`SELECT id FROM llm_plans WHERE key = 'never'`)).toEqual([])
    expect(await db().rawQuery(`SELECT id FROM llm_api_keys WHERE tenant_id = 'atomic'`)).toEqual([])
    expect(await eventCount(db())).toBe(before)
  })

  it('queries by tenant, action, actor and period, newest first, in keyset pages', async () => {
    const store = new TenantStore(db().client)
    for (let i = 0; i < 25; i++) {
      await withActor({ type: 'user', id: i % 2 === 0 ? 'even' : 'odd' }, () => store.upsert({ tenantId: 'paged', name: `n${i}` }))
    }
    const log = createAuditLog(db().client, config)
    const seen: AuditEventRecord[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await log.events({ tenantId: 'paged', limit: 10, cursor })
      seen.push(...page.events)
      cursor = page.nextCursor ?? undefined
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    expect(seen.length).toBe(25)
    expect(new Set(seen.map((e) => e.id)).size).toBe(25)
    for (let i = 1; i < seen.length; i++) expect(seen[i - 1].occurredAt.getTime()).toBeGreaterThanOrEqual(seen[i].occurredAt.getTime())
    expect(seen[0].after).toMatchObject({ name: 'n24' })
    expect((await log.events({ tenantId: 'paged', actorType: 'user', actorId: 'odd', limit: 500 })).events).toHaveLength(12)
    expect((await log.events({ tenantId: 'paged', action: 'tenant.created', limit: 500 })).events).toHaveLength(1)
    expect((await log.events({ tenantId: 'paged', action: ['tenant.created', 'tenant.updated'], limit: 500 })).events).toHaveLength(25)
    expect((await log.events({ tenantId: 'paged', period: { from: new Date(0), to: new Date(1) } })).events).toEqual([])
    expect((await log.events({ tenantId: 'paged', period: 'today' })).events.length).toBeGreaterThan(0)
  })

  it('bad queries and bad actors are typed errors naming the field; nothing is written', async () => {
    const log = createAuditLog(db().client, config)
    const store = new TenantStore(db().client)
    const bad: Array<[field: string, run: () => unknown]> = [
      ['query.limit', () => log.events({ limit: 0 })],
      ['query.limit', () => log.events({ limit: 501 })],
      ['query.cursor', () => log.events({ cursor: 'not-a-cursor' })],
      ['query.period', () => log.events({ period: 'someday' as never })],
      ['query.action', () => log.events({ action: [] })],
      ['query.tenant', () => log.events({ tenant: 'x' } as never)],
      ['actor.type', () => withActor({ type: '' }, () => 1)],
      ['actor.type', () => withActor({ type: 'has space' }, () => 1)],
      ['actor.id', () => withActor({ type: 'user', id: 42 as never }, () => 1)],
      ['audit.actor.type', () => store.upsert({ tenantId: 'bad-actor' }, { actor: { type: '' } })],
      ['audit.auditMetadata', () => store.upsert({ tenantId: 'bad-actor' }, { auditMetadata: [] as never })],
      ['audit.who', () => store.upsert({ tenantId: 'bad-actor' }, { who: 'x' } as never)],
    ]
    const before = await eventCount(db())
    for (const [field, run] of bad) {
      const err = await Promise.resolve()
        .then(run)
        .catch((e) => e)
      expect(err, field).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).field, field).toBe(field)
    }
    expect(await eventCount(db())).toBe(before)
    expect(await store.find('bad-actor')).toBeNull()
  })
})
