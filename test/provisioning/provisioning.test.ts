/**
 * Provisioning on both databases: a tenant, its plan, its agents from templates and its first API
 * key in one transaction with exactly one audit event; retries with the idempotency key replay the
 * first result (the secret is not shown again); the key reused with other input, or a tenant id that
 * is taken, is a typed error; concurrent duplicates provision once.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import {
  IdempotencyConflictError,
  InvalidArgumentError,
  PlanNotFoundError,
  TenantExistsError,
  TenantStore,
  createAuditLog,
  llmTenant,
} from '../../src/index.ts'
import { config, request, rowCounts, setUp } from './setup.ts'

describe.each(DATABASES)('provisioning on %s', (kind) => {
  const db = useDatabase(kind)

  it('provisions tenant, plan, agents (code templates win) and a working first key in one transaction, with one audit event', async () => {
    const { keys, provisioning } = await setUp(db())
    const before = await rowCounts(db())
    const result = await provisioning.provisionTenant(request('acme', 'signup-acme'), { actor: { type: 'user', id: 'signup-flow' } })
    expect(result.replayed).toBe(false)
    expect(result.tenant).toMatchObject({ tenantId: 'acme', name: 'Tenant acme', active: true })
    expect(result.tenant.limits.dailyCost?.toFixed()).toBe('1.5')
    expect(result.plan).toMatchObject({ tenantId: 'acme', planKey: 'starter', planVersion: 1, effectiveTo: null })
    expect(result.agents.map((a) => [a.agentName, a.provider, a.model, a.enabled])).toEqual([
      ['Billing', 'anthropic', 'claude-haiku-4-5', true],
      ['Support', 'openai', 'gpt-4o-mini', true],
      ['Triage', 'openai', 'gpt-4.1-mini', false],
    ])
    expect(result.agents.find((a) => a.agentName === 'Billing')?.toolNames).toEqual(['invoice'])
    expect(result.agents.find((a) => a.agentName === 'Triage')?.instructions).toBeNull() // whole code template, no field merge
    expect(result.apiKey.key).toMatchObject({ tenantId: 'acme', name: 'production' })
    expect(result.apiKey.secret).toMatch(/^sk_test_/)

    const verified = await keys.verifyApiKey(result.apiKey.secret)
    expect(verified).toMatchObject({ tenantId: 'acme', key: { id: result.apiKey.key.id } })

    const after = await rowCounts(db())
    expect(after.llm_tenants - before.llm_tenants).toBe(1)
    expect(after.llm_tenant_plans - before.llm_tenant_plans).toBe(1)
    expect(after.llm_agent_configs - before.llm_agent_configs).toBe(3)
    expect(after.llm_api_keys - before.llm_api_keys).toBe(1)
    expect(after.llm_audit_events - before.llm_audit_events).toBe(1) // no tenant.created, plan.changed or api_key.created of its own
    const [event] = (await createAuditLog(db().client).events({ tenantId: 'acme' })).events
    expect(event).toMatchObject({
      id: result.auditEventId,
      action: 'tenant.provisioned',
      actor: { type: 'user', id: 'signup-flow' },
      target: { type: 'tenant', id: 'acme' },
      idempotencyKey: 'signup-acme',
      after: {
        plan: { planKey: 'starter', planVersion: 1 },
        agents: ['Billing', 'Support', 'Triage'],
        issuedKey: { id: result.apiKey.key.id, name: 'production' },
      },
    })
    expect((event.metadata as { inputHash: string }).inputHash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(event)).not.toContain(result.apiKey.secret)
  })

  it('a retry with the same idempotency key replays the first result: same tenant and key id, secret null, nothing written', async () => {
    const { provisioning } = await setUp(db())
    const first = await provisioning.provisionTenant(request('globex', 'signup-globex'))
    const before = await rowCounts(db())
    // The same request in another spelling (limits as a number, key order) is the same request.
    const retry = await provisioning.provisionTenant({ ...request('globex', 'signup-globex'), limits: { dailyCost: 1.5 } })
    expect(retry.replayed).toBe(true)
    expect(retry.apiKey.secret).toBeNull()
    expect(retry.apiKey.key.id).toBe(first.apiKey.key.id)
    expect(retry.tenant.id).toBe(first.tenant.id)
    expect(retry.plan?.id).toBe(first.plan?.id)
    expect(retry.auditEventId).toBe(first.auditEventId)
    expect(retry.agents.map((a) => a.id)).toEqual(first.agents.map((a) => a.id))
    expect(await rowCounts(db())).toEqual(before)
  })

  it('the key reused with other input is IdempotencyConflictError; a taken tenant id is TenantExistsError; nothing written', async () => {
    const { provisioning } = await setUp(db())
    await provisioning.provisionTenant(request('initech', 'signup-initech'))
    await new TenantStore(db().client).upsert({ tenantId: 'hooli' })
    const before = await rowCounts(db())
    const conflict = await provisioning.provisionTenant(request('initech', 'signup-initech', { plan: null })).catch((e: unknown) => e)
    expect(conflict).toBeInstanceOf(IdempotencyConflictError)
    expect(conflict).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', idempotencyKey: 'signup-initech', tenantId: 'initech' })
    // The same key for another tenant id: the first run provisioned initech, not this one.
    await expect(provisioning.provisionTenant(request('umbrella', 'signup-initech'))).rejects.toBeInstanceOf(IdempotencyConflictError)
    await expect(provisioning.provisionTenant(request('initech', 'another-key'))).rejects.toBeInstanceOf(TenantExistsError)
    await expect(provisioning.provisionTenant(request('hooli', 'signup-hooli'))).rejects.toMatchObject({ code: 'TENANT_EXISTS', tenantId: 'hooli' })
    await expect(provisioning.provisionTenant(request('nope-plan', 'k-plan', { plan: 'enterprise' }))).rejects.toBeInstanceOf(PlanNotFoundError)
    const noTemplates = await provisioning.provisionTenant(request('nope-type', 'k-type', { productType: 'unknown-type' })).catch((e: unknown) => e)
    expect(noTemplates).toBeInstanceOf(InvalidArgumentError)
    expect((noTemplates as InvalidArgumentError).field).toBe('input.productType')
    for (const [input, field] of [
      [{ ...request('x', 'k'), idempotencyKey: '' }, 'input.idempotencyKey'],
      [{ ...request('x', 'k'), plan: 'Not A Key' }, 'input.plan'],
      [{ ...request('x', 'k'), limits: { dailyCost: '-1' } }, 'input.limits.dailyCost'],
      [{ ...request('x', 'k'), tenant: 'x' }, 'input.tenant'],
    ] as const) {
      const err = await provisioning.provisionTenant(input as never).catch((e: unknown) => e)
      expect(err, field).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).field).toBe(field)
    }
    await expect(provisioning.provisionTenant(request('x', 'k'), { auditMetadata: { inputHash: 'forged' } })).rejects.toMatchObject({
      field: 'audit.auditMetadata.inputHash',
    })
    expect(await rowCounts(db())).toEqual(before)
  })

  it('concurrent identical requests: exactly one provisions, the others replay it', async () => {
    const { provisioning } = await setUp(db())
    const before = await rowCounts(db())
    const results = await Promise.all(Array.from({ length: 6 }, () => provisioning.provisionTenant(request('stark', 'signup-stark'))))
    expect(results.filter((r) => !r.replayed)).toHaveLength(1)
    expect(results.filter((r) => r.apiKey.secret !== null)).toHaveLength(1)
    expect(new Set(results.map((r) => r.apiKey.key.id)).size).toBe(1)
    expect(new Set(results.map((r) => r.tenant.id)).size).toBe(1)
    const after = await rowCounts(db())
    expect([after.llm_tenants - before.llm_tenants, after.llm_api_keys - before.llm_api_keys, after.llm_audit_events - before.llm_audit_events]).toEqual([
      1, 1, 1,
    ])
  })

  it('concurrent requests for one tenant id under different keys: one provisions, the others get TenantExistsError', async () => {
    const { provisioning } = await setUp(db())
    const settled = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => provisioning.provisionTenant(request('wayne', `signup-wayne-${i}`))))
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1)
    for (const s of settled.filter((s) => s.status === 'rejected')) expect((s as PromiseRejectedResult).reason).toBeInstanceOf(TenantExistsError)
  })

  it('through the extension: llmProvisionTenant starts from the model’s defaults; $llm.provisioning is the same store', async () => {
    await setUp(db())
    const prisma = db().client.$extends(
      llmTenant({
        model: 'organization',
        id: 'slug',
        limits: { monthlyCost: '20' },
        enforcement: 'soft',
        config,
        agentTemplates: { basic: [{ agentName: 'Helper', provider: 'openai', model: 'gpt-4o-mini' }] },
      }),
    )
    const result = await prisma.organization.llmProvisionTenant({
      tenantId: 'ext-tenant',
      idempotencyKey: 'ext-1',
      productType: 'basic',
      limits: { dailyCost: '2' },
    })
    expect(result.tenant.limits.monthlyCost?.toFixed()).toBe('20')
    expect(result.tenant.limits.dailyCost?.toFixed()).toBe('2')
    expect(result.tenant.enforcement).toBe('soft')
    expect(result.agents.map((a) => a.agentName)).toEqual(['Helper'])
    expect((await prisma.$llm.apiKeys.verifyApiKey(result.apiKey.secret!)).tenantId).toBe('ext-tenant')
    const replay = await prisma.$llm.provisioning.provisionTenant({
      tenantId: 'ext-tenant',
      idempotencyKey: 'ext-1',
      productType: 'basic',
      limits: { dailyCost: '2' },
    })
    expect(replay).toMatchObject({ replayed: true, apiKey: { secret: null, key: { id: result.apiKey.key.id } } })
  })
})
