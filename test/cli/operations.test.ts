/**
 * The operations commands, run as the built `prisma-llm-tenant` against SQLite and PostgreSQL:
 * `usage` and `top` agree exactly with the ledger's own queries (JSON, CSV and table), `tenants`
 * (list, show, deactivate/activate: written, audited as the CLI user, idempotent), `keys` (the
 * secret printed once and verifiable with the app's prefix and pepper; never listed; rotation and
 * revocation take effect), `refresh-counters` corrects a drifted counter, `release-holds` frees a
 * crashed caller's hold.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys, createLedger, defineLlmConfig, LlmBudgets, TenantStore } from '../../src/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { assertBuilt, cliOn, json } from './support.ts'

const MAY = { from: new Date('2026-05-01T00:00:00Z'), to: new Date('2026-06-01T00:00:00Z') }
const PEPPER = 'a-pepper-for-the-cli-tests-0123456'
const KEY_ENV = { LLM_TENANT_API_KEY_PEPPER: PEPPER, LLM_TENANT_API_KEY_PREFIX: 'sk_test' }
const KEY_SHAPE = /^sk_test_[0-9A-Za-z]{30}$/

beforeAll(assertBuilt)

describe.each(DATABASES)('prisma-llm-tenant operations (%s)', (kind) => {
  const db = useDatabase(kind)
  const ledger = () => createLedger(db().client)
  let keyId = ''

  beforeAll(async () => {
    const store = new TenantStore(db().client)
    for (const [tenantId, name] of [
      ['acme', 'Acme'],
      ['globex', 'Globex'],
      ['initech', 'Initech'],
    ]) {
      await store.upsert({ tenantId, name })
    }
    const keys = createApiKeys(db().client, { prefix: 'sk_test', pepper: PEPPER })
    keyId = (await keys.createApiKey('acme', { name: 'seeded' })).key.id
    const row = (
      tenantId: string | null,
      agentType: string,
      model: string,
      day: number,
      tokens: number,
      cost: string,
      extra: Record<string, unknown> = {},
    ) => ({
      tenantId,
      agentType,
      model,
      status: 'success' as const,
      totalTokens: tokens,
      totalCost: cost,
      startedAt: new Date(Date.UTC(2026, 4, day, 12)),
      durationMs: 5,
      ...extra,
    })
    await ledger().recordExecutions([
      row('acme', 'Support', 'gpt-4o-mini', 3, 150, '0.000123456'),
      row('acme', 'Triage', 'gpt-4o', 4, 1500, '0.03', { apiKeyId: keyId }),
      row('acme', 'Support', 'gpt-4o', 31, 10, '0.000000001', { apiKeyId: keyId }),
      row('globex', 'Support', 'gpt-4o', 4, 15, '0.75'),
      row('initech', 'Support', 'gpt-4o-mini', 20, 5, '0.1'),
      row(null, 'Batch', 'gpt-4o-mini', 10, 99, '0.5'),
      row('acme', 'Support', 'gpt-4o', 5, 0, '0', { status: 'refused' }),
      row('acme', 'Support', 'gpt-4o', 2, 7, '9', { startedAt: new Date('2026-04-30T23:59:59.999Z') }),
    ])
  })

  it('usage: the summary and every grouping are the ledger’s own figures, to the nano-dollar', async () => {
    const period = { from: MAY.from, to: MAY.to }
    const [summary, byAgent, byModel, byDay, byKey, all] = await Promise.all([
      cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--json']),
      cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--by', 'agent', '--json']),
      cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--by', 'model', '--format', 'json']),
      cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--by', 'day', '--json']),
      cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05-01..2026-05-31', '--by', 'key', '--json']),
      cliOn(db(), ['usage', '--period', '2026-05', '--json']),
    ])
    for (const r of [summary, byAgent, byModel, byDay, byKey, all]) expect(r.status, r.stderr).toBe(0)
    const expected = await ledger().usageSummary({ tenantId: 'acme', period })
    expect(json(summary)).toEqual({
      tenantId: 'acme',
      period: { name: 'custom', from: MAY.from.toISOString(), to: MAY.to.toISOString(), timeZone: 'UTC' },
      cost: expected.cost.toFixed(),
      tokens: expected.tokens,
      executions: expected.executions,
    })
    expect(json(summary).cost).toBe('0.030123457')
    const plain = (figures: Record<string, { cost: { toFixed(): string }; tokens: number; count: number }>, key: string) =>
      Object.entries(figures).map(([group, f]) => ({ [key]: group, cost: f.cost.toFixed(), tokens: f.tokens, executions: f.count }))
    expect(json(byAgent).rows).toEqual(plain(await ledger().usageByAgent({ tenantId: 'acme', period }), 'agent'))
    expect(json(byModel).rows).toEqual(plain(await ledger().usageByModel({ tenantId: 'acme', period }), 'model'))
    expect(json(byDay).rows).toEqual(plain(await ledger().usageByDay({ tenantId: 'acme', period }), 'day'))
    expect((json(byDay).rows as unknown[]).length).toBe(31)
    expect(json(byKey).rows).toEqual([
      { key: keyId, name: 'seeded', cost: '0.030000001', tokens: 1510, executions: 2 },
      { key: 'none', name: '(no key)', cost: '0.000123456', tokens: 150, executions: 1 },
    ])
    expect(json(byKey).total).toEqual({ cost: '0.030123457', tokens: 1660, executions: 3 })
    expect(json(all).cost).toBe((await ledger().usageSummary({ period })).cost.toFixed())
  })

  // Output formats and zones are the same code on either database: checked once, on SQLite.
  if (kind === 'sqlite')
    it('usage and top: CSV and table output, in the time zone given', async () => {
      const [csv, table, berlin, top] = await Promise.all([
        cliOn(db(), ['usage', '--period', '2026-05', '--by', 'agent', '--format', 'csv']),
        cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--by', 'model']),
        cliOn(db(), ['usage', '--tenant', 'acme', '--period', '2026-05', '--json'], { LLM_TENANT_TIME_ZONE: 'Europe/Berlin' }),
        cliOn(db(), ['top', '--period', '2026-05']),
      ])
      expect(csv.status, csv.stderr).toBe(0)
      expect(csv.stdout).toBe('agent,cost_usd,tokens,executions\r\nBatch,0.5,99,1\r\nSupport,0.850123457,180,4\r\nTriage,0.03,1500,1\r\n')
      expect(table.stdout.split('\n')[0]).toMatch(/^model\s+cost_usd\s+tokens\s+executions$/)
      expect(table.stdout).toMatch(/^total\s+0\.030123457\s+1660\s+3$/m)
      // In Berlin, May starts at 2026-04-30T22:00Z: the row at 23:59:59.999Z on April 30 is in it.
      expect(json(berlin)).toMatchObject({ period: { from: '2026-04-30T22:00:00.000Z', timeZone: 'Europe/Berlin' }, tokens: 1667, cost: '9.030123457' })
      expect(top.stdout).toMatch(/^\s+1\s+globex\s+Globex\s+0\.75\s+15\s+1$/m)
    })

  it('top: tenants by spend, highest first, as costByTenant', async () => {
    const r = await cliOn(db(), ['top', '--period', '2026-05', '--limit', '2', '--json'])
    expect(r.status, r.stderr).toBe(0)
    const expected = await ledger().costByTenant({ period: { from: MAY.from, to: MAY.to }, limit: 2 })
    expect(json(r).tenants).toEqual(
      expected.map((s, i) => ({
        rank: i + 1,
        tenantId: s.tenantId,
        cost: s.cost.toFixed(),
        tokens: s.tokens,
        executions: s.executions,
        name: s.tenantId === 'globex' ? 'Globex' : 'Initech',
      })),
    )
  })

  it('tenants: list (paged), show, deactivate and activate — written, audited as the CLI user, idempotent', async () => {
    const [page1, page2, shown] = (
      await Promise.all([
        cliOn(db(), ['tenants', 'list', '--limit', '2', '--json']),
        cliOn(db(), ['tenants', 'list', '--after', 'globex', '--json']),
        cliOn(db(), ['tenants', 'show', 'acme', '--json']),
      ])
    ).map((r) => json(r))
    expect((page1.tenants as Array<{ tenantId: string }>).map((t) => t.tenantId)).toEqual(['acme', 'globex'])
    expect(page1.next).toBe('globex')
    expect((page2.tenants as Array<{ tenantId: string }>).map((t) => t.tenantId)).toEqual(['initech'])
    expect(page2.next).toBeNull()
    expect(shown).toMatchObject({ tenant: { tenantId: 'acme', name: 'Acme', active: true }, plan: null, activeKeys: 1 })

    const off = await cliOn(db(), ['tenants', 'deactivate', 'initech'])
    expect(off.status, off.stderr).toBe(0)
    expect(off.stdout).toContain('Deactivated tenant initech')
    expect((await new TenantStore(db().client).find('initech'))?.active).toBe(false)
    const [again, inactive] = (
      await Promise.all([cliOn(db(), ['tenants', 'deactivate', 'initech', '--json']), cliOn(db(), ['tenants', 'list', '--status', 'inactive', '--json'])])
    ).map((r) => json(r))
    expect(again.changed).toBe(false)
    expect((inactive.tenants as Array<{ tenantId: string }>).map((t) => t.tenantId)).toEqual(['initech'])
    const events = await db().rawQuery<{ action: string; actor_type: string; actor_id: string | null }>(
      `SELECT action, actor_type, actor_id FROM llm_audit_events WHERE tenant_id = 'initech' AND action LIKE 'tenant.%activated' ORDER BY occurred_at`,
    )
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ action: 'tenant.deactivated', actor_type: 'cli' })
    expect(events[0].actor_id).toBeTruthy()
    expect((await cliOn(db(), ['tenants', 'activate', 'initech'])).status).toBe(0)
    expect((await new TenantStore(db().client).find('initech'))?.active).toBe(true)
  })

  it('keys create: the secret once on stdout, verifiable with the app’s prefix and pepper; never in a list or the audit log', async () => {
    const created = await cliOn(db(), ['keys', 'create', '--tenant', 'globex', '--name', 'production'], KEY_ENV)
    expect(created.status, created.stderr).toBe(0)
    const secret = created.stdout.trim()
    expect(secret).toMatch(KEY_SHAPE)
    expect(created.stderr).not.toContain(secret)
    expect(created.stderr).toMatch(/Created key [0-9a-f-]{36} \(production, sk_test_\w{4}…\) for tenant globex/)
    const app = createApiKeys(db().client, { prefix: 'sk_test', pepper: PEPPER })
    const verified = await app.verifyApiKey(secret)
    expect(verified.tenantId).toBe('globex')

    // Without LLM_TENANT_API_KEY_PREFIX: the prefix of the newest key in the table.
    const inferred = await cliOn(db(), ['keys', 'create', '--tenant', 'globex', '--name', 'staging', '--json'], { LLM_TENANT_API_KEY_PEPPER: PEPPER })
    const result = json<{ key: { id: string; start: string }; secret: string }>(inferred)
    expect(result.secret).toMatch(KEY_SHAPE)
    expect((await app.verifyApiKey(result.secret)).key.id).toBe(result.key.id)

    const [listed, table] = await Promise.all([
      cliOn(db(), ['keys', 'list', '--tenant', 'globex', '--json']),
      cliOn(db(), ['keys', 'list', '--tenant', 'globex']),
    ])
    expect(json<{ keys: Array<{ name: string; status: string }> }>(listed).keys.map((k) => [k.name, k.status])).toEqual([
      ['production', 'active'],
      ['staging', 'active'],
    ])
    for (const out of [listed.stdout, table.stdout]) {
      expect(out).not.toContain(secret)
      expect(out).not.toContain(result.secret)
      expect(out).not.toMatch(/"hash"/)
    }
    const audit = await db().rawQuery<{ actor_type: string; after: unknown }>(
      `SELECT actor_type, after FROM llm_audit_events WHERE action = 'api_key.created' AND tenant_id = 'globex'`,
    )
    expect(audit.map((a) => a.actor_type)).toEqual(['cli', 'cli'])
    expect(JSON.stringify(audit)).not.toContain(secret.slice(8))
  })

  it('keys rotate and revoke: the new secret works, the old one for the grace period, nothing after revoke', async () => {
    const app = createApiKeys(db().client, { prefix: 'sk_test', pepper: PEPPER })
    const created = await cliOn(db(), ['keys', 'create', '--tenant', 'acme', '--name', 'rotating'], KEY_ENV)
    const old = created.stdout.trim()
    const id = (await app.verifyApiKey(old)).key.id
    const rotated = await cliOn(db(), ['keys', 'rotate', id, '--grace', '1h'], KEY_ENV)
    expect(rotated.status, rotated.stderr).toBe(0)
    const fresh = rotated.stdout.trim()
    expect(fresh).toMatch(KEY_SHAPE)
    expect(fresh).not.toBe(old)
    expect(rotated.stderr).toMatch(/previous secret works until \d{4}-/)
    // A store of its own: `app` remembers the old secret as it was before the rotation (its cache).
    const after = createApiKeys(db().client, { prefix: 'sk_test', pepper: PEPPER })
    expect((await after.verifyApiKey(fresh)).key.id).toBe(id)
    expect((await after.verifyApiKey(old)).rotatedSecret).not.toBeNull()
    const revoked = json(await cliOn(db(), ['keys', 'revoke', id, '--json'], KEY_ENV))
    expect(revoked).toMatchObject({ key: { id, name: 'rotating' } })
    const fresh2 = createApiKeys(db().client, { prefix: 'sk_test', pepper: PEPPER })
    await expect(fresh2.verifyApiKey(fresh)).rejects.toMatchObject({ name: 'ApiKeyRevokedError' })
    await expect(fresh2.verifyApiKey(old)).rejects.toMatchObject({ name: 'ApiKeyRevokedError' })
    const twice = await cliOn(db(), ['keys', 'revoke', id])
    expect(twice.status).toBe(1)
    expect(twice.stderr).toContain('was revoked')
  })

  it('refresh-counters corrects a drifted counter; release-holds frees a crashed caller’s hold', async () => {
    const config = defineLlmConfig({ refusalBackoffMs: 0 })
    const budgets = new LlmBudgets(db().client, config)
    await budgets.track('acme', { agentType: 'Support', model: 'gpt-4o-mini' }, async (c) => c.reportUsage({ inputTokens: 10, inputCost: '0.25' }))
    const today = new Date().toISOString().slice(0, 10)
    const drifted = `scope = 'tenant' AND tenant_id = 'acme' AND period = 'day' AND bucket = '${today}'`
    await db().rawQuery(`UPDATE llm_budget_counters SET spent_cost_nanos = 999 WHERE ${drifted}`)
    const refreshed = await cliOn(db(), ['refresh-counters', '--tenant', 'acme', '--json'])
    expect(refreshed.status, refreshed.stderr).toBe(0)
    expect(json(refreshed)).toMatchObject({ tenantId: 'acme', changed: 1 })
    const [day] = await db().rawQuery<{ spent_cost_nanos: unknown }>(`SELECT spent_cost_nanos FROM llm_budget_counters WHERE ${drifted}`)
    expect(String(day.spent_cost_nanos)).toBe('250000000')
    expect((await cliOn(db(), ['refresh-counters'])).stdout).toMatch(/^Refreshed \d+ counter row\(s\): 0 corrected/)

    const crashed = new LlmBudgets(db().client, { holdTtlMs: 50, refusalBackoffMs: 0 })
    let finish!: () => void
    const hanging = crashed.track(
      'globex',
      { agentType: 'Stuck', model: 'm', estimate: { cost: '0.5', tokens: 40 } },
      () => new Promise<void>((r) => (finish = r)),
    )
    await new Promise((r) => setTimeout(r, 150))
    const released = await cliOn(db(), ['release-holds'])
    expect(released.status, released.stderr).toBe(0)
    expect(released.stdout).toBe('Released 1 expired hold(s) (reservations voided).\n')
    const [row] = await db().rawQuery<{ status: string; error_class: string }>(`SELECT status, error_class FROM llm_executions WHERE agent_type = 'Stuck'`)
    expect(row).toEqual({ status: 'timeout', error_class: 'HoldExpiredError' })
    expect(json(await cliOn(db(), ['release-holds', '--json']))).toEqual({ released: 0, holdExpiry: 'release' })
    finish()
    await hanging
  })
})
