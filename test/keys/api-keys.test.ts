/**
 * Tenant API keys on both databases: issue (secret shown once, never stored), verify (every
 * refusal typed), rotate with a grace period that really ends, revoke — seen by another process
 * within tenantCacheTtlMs — caches that keep guesses and repeat use off the database, lastUsedAt
 * at most once a minute, per-key usage kept by the stable id, and per-key limits in the same
 * admission as the tenant's.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import {
  ApiKeyExpiredError,
  ApiKeyNotFoundError,
  ApiKeyRevokedError,
  BudgetExceededError,
  InvalidApiKeyError,
  InvalidArgumentError,
  LlmBudgets,
  RateLimitExceededError,
  TenantInactiveError,
  TenantStore,
  createApiKeys,
  createLedger,
} from '../../src/index.ts'
import { generateApiKey, withChecksum } from '../../src/keys/format.ts'

const root = new URL('../..', import.meta.url).pathname
const call = { agentType: 'Chat', model: 'gpt-4o-mini' }
const ok = async () => 'ok'

/** The client with a count of the queries made through it per model and operation. */
function counting(db: TestDatabase) {
  const counts = new Map<string, number>()
  const client = db.client.$extends({
    query: {
      $allModels: {
        async $allOperations({ model, operation, args, query }) {
          counts.set(`${model}.${operation}`, (counts.get(`${model}.${operation}`) ?? 0) + 1)
          return query(args)
        },
      },
    },
  })
  const total = (prefix = '') => [...counts].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0)
  return { client, counts, total, reset: () => counts.clear() }
}

describe.each(DATABASES)('tenant API keys on %s', (kind) => {
  const db = useDatabase(kind)
  let clock = Date.parse('2026-06-10T12:00:00Z')
  const config = { now: () => new Date(clock), tenantCacheTtlMs: 0 }

  it('issues a key shown once: prefix, 142 random bits, a checksum; stored only as a hash, listed without it', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'acme', name: 'Acme' })
    const keys = createApiKeys(db().client, { config, prefix: 'sk_live' })
    const { key, secret } = await keys.createApiKey('acme', { name: 'production' })
    expect(secret).toMatch(/^sk_live_[0-9A-Za-z]{30}$/)
    expect(key).toMatchObject({ tenantId: 'acme', name: 'production', start: secret.slice(0, 12), revokedAt: null, replacedBy: null })
    const rows = await db().rawQuery<Record<string, unknown>>('SELECT * FROM llm_api_keys')
    expect(JSON.stringify(rows)).not.toContain(secret.slice(12))
    expect(rows[0].hash).toMatch(/^[0-9a-f]{64}$/)
    const listed = await keys.listApiKeys('acme')
    expect(listed.map((k) => k.id)).toEqual([key.id])
    expect(JSON.stringify(listed)).not.toContain(secret.slice(12))
    expect(listed[0]).not.toHaveProperty('hash')
    const verified = await keys.verifyApiKey(secret)
    expect(verified).toMatchObject({ tenantId: 'acme', tenant: { tenantId: 'acme', name: 'Acme', active: true }, key: { id: key.id }, rotatedSecret: null })
    // Two keys never collide, and another prefix's store refuses this key unread.
    expect((await keys.createApiKey('acme', { name: 'staging' })).secret).not.toBe(secret)
    await expect(createApiKeys(db().client, { config, prefix: 'sk_test' }).verifyApiKey(secret)).rejects.toMatchObject({ reason: 'malformed' })
  })

  it('refusals are typed: revoked, expired, inactive tenant, deleted tenant, unknown', async () => {
    const store = new TenantStore(db().client)
    await store.upsert({ tenantId: 'refusals' })
    const keys = createApiKeys(db().client, { config })
    const revoked = await keys.createApiKey('refusals', { name: 'revoked' })
    await keys.revokeApiKey(revoked.key.id)
    await expect(keys.verifyApiKey(revoked.secret)).rejects.toBeInstanceOf(ApiKeyRevokedError)
    await expect(keys.revokeApiKey(revoked.key.id)).rejects.toBeInstanceOf(ApiKeyRevokedError)

    const expiring = await keys.createApiKey('refusals', { name: 'expiring', expiresAt: new Date(clock + 60_000) })
    expect((await keys.verifyApiKey(expiring.secret)).key.id).toBe(expiring.key.id)
    clock += 60_000
    await expect(keys.verifyApiKey(expiring.secret)).rejects.toBeInstanceOf(ApiKeyExpiredError)

    const live = await keys.createApiKey('refusals', { name: 'live' })
    await store.update('refusals', { active: false })
    await expect(keys.verifyApiKey(live.secret)).rejects.toBeInstanceOf(TenantInactiveError)
    await store.update('refusals', { active: true })
    await db().rawQuery(`DELETE FROM llm_tenants WHERE tenant_id = 'refusals'`)
    await expect(keys.verifyApiKey(live.secret)).rejects.toMatchObject({ name: 'InvalidApiKeyError', reason: 'tenant_deleted' })
    // The right shape, never issued.
    const fake = `${live.secret.slice(0, -10)}AAAA${live.secret.slice(-6)}`
    await expect(keys.verifyApiKey(fake)).rejects.toBeInstanceOf(InvalidApiKeyError)
    await expect(keys.revokeApiKey('no-such-key')).rejects.toBeInstanceOf(ApiKeyNotFoundError)
  })

  it('rotation keeps the id (and usage); the old secret works through the grace period, then is refused', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'rotating' })
    const keys = createApiKeys(db().client, { config })
    const budgets = new LlmBudgets(db().client, config)
    const first = await keys.createApiKey('rotating', { name: 'production' })
    await budgets.track('rotating', { ...call, apiKeyId: first.key.id }, ok)
    const rotated = await keys.rotateApiKey(first.key.id, { gracePeriod: '1h' })
    expect(rotated.key.id).toBe(first.key.id)
    expect(rotated.secret).not.toBe(first.secret)
    expect(rotated.previousSecretRetiresAt.getTime()).toBe(clock + 3_600_000)
    const viaOld = await keys.verifyApiKey(first.secret)
    expect(viaOld).toMatchObject({ key: { id: first.key.id, start: rotated.key.start }, rotatedSecret: { retiresAt: rotated.previousSecretRetiresAt } })
    expect((await keys.verifyApiKey(rotated.secret)).rotatedSecret).toBeNull()
    await budgets.track('rotating', { ...call, apiKeyId: viaOld.key.id }, ok)
    clock += 3_600_000
    await expect(keys.verifyApiKey(first.secret)).rejects.toBeInstanceOf(ApiKeyRevokedError)
    await budgets.track('rotating', { ...call, apiKeyId: (await keys.verifyApiKey(rotated.secret)).key.id }, ok)
    await budgets.track('rotating', call, ok)
    // Usage by key: one id across the rotation; calls without a key under `none`; the tenant has all.
    const ledger = createLedger(db().client, config)
    const period = { from: new Date(clock - 86_400_000), to: new Date(clock + 1) }
    const byKey = await ledger.usageByApiKey({ tenantId: 'rotating', period })
    expect(Object.fromEntries(Object.entries(byKey).map(([k, v]) => [k, v.count]))).toEqual({ [first.key.id]: 3, none: 1 })
    expect(await ledger.executionCount({ tenantId: 'rotating', period })).toBe(4)
    // Only the current key is listed; the rotated-out secret on request, pointing at it.
    expect((await keys.listApiKeys('rotating')).length).toBe(1)
    const all = (await keys.listApiKeys('rotating', { includeRotated: true })).map((k) => k.replacedBy)
    expect(all).toHaveLength(2)
    expect(all).toEqual(expect.arrayContaining([null, first.key.id]))
    // A rotated-out secret cannot be rotated; revoking the key ends a grace period at once.
    const again = await keys.rotateApiKey(first.key.id, { gracePeriod: 600_000 })
    expect((await keys.verifyApiKey(rotated.secret)).rotatedSecret).not.toBeNull()
    await keys.revokeApiKey(first.key.id)
    await expect(keys.verifyApiKey(rotated.secret)).rejects.toBeInstanceOf(ApiKeyRevokedError)
    await expect(keys.verifyApiKey(again.secret)).rejects.toBeInstanceOf(ApiKeyRevokedError)
  })

  it('malformed keys are refused without a database read; unknown ones are remembered; lastUsedAt at most once a minute', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'reads' })
    const c = counting(db())
    const keys = createApiKeys(c.client, { config: { ...config, tenantCacheTtlMs: 60_000 } })
    const { secret } = await keys.createApiKey('reads', { name: 'p' })
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
    const malformed: unknown[] = [
      '',
      'sk_',
      secret.slice(0, -1),
      `${secret}A`,
      `pk_${secret.slice(3)}`,
      flip(secret, 10), // checksum no longer matches
      flip(secret, secret.length - 1), // checksum itself altered
      `${secret.slice(0, 10)}-${secret.slice(11)}`,
      `${secret.slice(0, 10)}é${secret.slice(11)}`,
      'x'.repeat(10_240),
      `${secret}${'A'.repeat(10_240)}`,
      null,
      42,
      { key: secret },
    ]
    c.reset()
    for (const raw of malformed) await expect(keys.verifyApiKey(raw), String(raw).slice(0, 20)).rejects.toMatchObject({ reason: 'malformed' })
    expect(c.total()).toBe(0)
    // A well-formed guess (the checksum is public: anyone can compute it): one read, then the
    // negative cache answers a flood of it.
    const guess = withChecksum(`${secret.slice(0, 20)}${secret[20] === 'Q' ? 'R' : 'Q'}${secret.slice(21, -6)}`)
    c.reset()
    for (let i = 0; i < 100; i++) await expect(keys.verifyApiKey(guess)).rejects.toMatchObject({ reason: 'unknown' })
    expect(c.total()).toBe(1)
    // Known keys are cached (one read of the key and its tenant); lastUsedAt is written once per minute.
    c.reset()
    for (let i = 0; i < 50; i++) await keys.verifyApiKey(secret)
    await new Promise((r) => setTimeout(r, 100))
    expect(c.counts.get('LlmApiKey.findUnique')).toBe(1)
    expect(c.counts.get('LlmTenant.findUnique')).toBe(1)
    expect(c.counts.get('LlmApiKey.updateMany')).toBe(1)
    clock += 61_000
    for (let i = 0; i < 20; i++) await keys.verifyApiKey(secret)
    await new Promise((r) => setTimeout(r, 100))
    expect(c.counts.get('LlmApiKey.updateMany')).toBe(2)
    expect((await keys.listApiKeys('reads'))[0].lastUsedAt?.getTime()).toBe(clock)
  })

  it('concurrent requests with a key whose cache entry expired share one load (was: a pair of reads per request)', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'shared' })
    const c = counting(db())
    const keys = createApiKeys(c.client, { config: { ...config, tenantCacheTtlMs: 40 } })
    const { secret } = await keys.createApiKey('shared', { name: 'p' })
    await keys.verifyApiKey(secret)
    await new Promise((r) => setTimeout(r, 60)) // the entry expires (the cache clock is the process's)
    c.reset()
    const all = await Promise.all(Array.from({ length: 20 }, () => keys.verifyApiKey(secret)))
    expect(new Set(all.map((v) => v.key.id)).size).toBe(1)
    expect(c.counts.get('LlmApiKey.findUnique')).toBe(1)
    expect(c.counts.get('LlmTenant.findUnique')).toBe(1)
    // Each caller gets its own key record: changing one changes no other caller's, nor the cache.
    ;(all[0].key as { name: string }).name = 'changed by a caller'
    ;(all[0].keyLimits as unknown as Record<string, unknown>).changed = true
    expect(all[1].key.name).toBe('p')
    expect((await keys.verifyApiKey(secret)).key.name).toBe('p')
    expect((await keys.verifyApiKey(secret)).keyLimits).not.toHaveProperty('changed')
  })

  it('a request after this process revoked a key never joins, or caches, a load that began before the revoke', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'revoking' })
    const keys = createApiKeys(db().client, { config: { ...config, tenantCacheTtlMs: 60_000 } })
    const { key, secret } = await keys.createApiKey('revoking', { name: 'p' })
    const before = keys.verifyApiKey(secret) // its load is in flight while the key is revoked
    await keys.revokeApiKey(key.id)
    await before.catch(() => undefined) // it began before the revoke: either answer is right for it
    await expect(keys.verifyApiKey(secret)).rejects.toBeInstanceOf(ApiKeyRevokedError)
    await expect(Promise.all([keys.verifyApiKey(secret), keys.verifyApiKey(secret)])).rejects.toBeInstanceOf(ApiKeyRevokedError)
  })

  it('per-key limits apply with the tenant’s, in the same admission; another tenant’s key id is refused', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'keyed', limits: { dailyExecutions: 10 }, enforcement: 'hard' })
    await new TenantStore(db().client).upsert({ tenantId: 'other' })
    const keys = createApiKeys(db().client, { config })
    const budgets = new LlmBudgets(db().client, config)
    const limited = await keys.createApiKey('keyed', { name: 'ci', limits: { dailyExecutions: 2 }, rateLimits: { requestsPerMinute: 5 } })
    await budgets.track('keyed', { ...call, apiKeyId: limited.key.id }, ok)
    await budgets.track('keyed', { ...call, apiKeyId: limited.key.id }, ok)
    const refused = await budgets.track('keyed', { ...call, apiKeyId: limited.key.id }, ok).catch((e) => e)
    expect(refused).toBeInstanceOf(BudgetExceededError)
    expect(refused).toMatchObject({ scope: 'api_key', apiKeyId: limited.key.id, tenantId: 'keyed', limitType: 'dailyExecutions', limit: 2, current: 2 })
    // The tenant (and its other calls) are not limited by the key's limit; its usage includes the key's calls.
    await budgets.track('keyed', call, ok)
    expect((await budgets.status('keyed')).limits.dailyExecutions.used).toBe(3)
    // Rate limit of the key alone.
    const fast = await keys.createApiKey('keyed', { name: 'burst', rateLimits: { requestsPerMinute: 1 } })
    await budgets.track('keyed', { ...call, apiKeyId: fast.key.id }, ok)
    const limitedRate = await budgets.track('keyed', { ...call, apiKeyId: fast.key.id }, ok).catch((e) => e)
    expect(limitedRate).toBeInstanceOf(RateLimitExceededError)
    expect(limitedRate).toMatchObject({ scope: 'api_key', apiKeyId: fast.key.id, tenantId: 'keyed', limitName: 'requestsPerMinute', source: 'api_key' })
    // A key's limits changed take effect at once in this process.
    await keys.updateApiKey(limited.key.id, { limits: { dailyExecutions: 3 } })
    await budgets.track('keyed', { ...call, apiKeyId: limited.key.id }, ok)
    // Refusals carry the key id too.
    const [refusal] = await db().rawQuery<{ api_key_id: string }>(
      `SELECT api_key_id FROM llm_executions WHERE status = 'refused' AND tenant_id = 'keyed' LIMIT 1`,
    )
    expect([limited.key.id, fast.key.id]).toContain(refusal.api_key_id)
    await expect(budgets.track('other', { ...call, apiKeyId: limited.key.id }, ok)).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      field: 'call.apiKeyId',
    })
    await expect(budgets.track('keyed', { ...call, apiKeyId: 'missing' }, ok)).rejects.toBeInstanceOf(ApiKeyNotFoundError)
    await expect(budgets.track('keyed', { ...call, apiKeyId: '' }, ok)).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('a wrong key of the right shape takes as long whether or not it shares a real key’s beginning', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'timing' })
    const keys = createApiKeys(db().client, { config, negativeCacheTtlMs: 0 })
    const { secret } = await keys.createApiKey('timing', { name: 'p' })
    // Same prefix and first 20 random characters as the real key, valid checksum — vs an unrelated key.
    const sharing = withChecksum(secret.slice(0, 23) + 'A'.repeat(4))
    const unrelated = generateApiKey('sk')
    expect(sharing).not.toBe(secret)
    const time = async (raw: string) => {
      const t = process.hrtime.bigint()
      await keys.verifyApiKey(raw).catch(() => undefined)
      return Number(process.hrtime.bigint() - t)
    }
    const a: number[] = []
    const b: number[] = []
    for (let i = 0; i < 300; i++) {
      a.push(await time(sharing))
      b.push(await time(unrelated))
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]
    // Not faster when the beginning matches (a character-by-character compare would be).
    expect(median(a) / median(b)).toBeGreaterThan(0.7)
  })

  it('a revocation reaches another process within tenantCacheTtlMs', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'watched' })
    const keys = createApiKeys(db().client)
    const { key, secret } = await keys.createApiKey('watched', { name: 'p' })
    const TTL = 400
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/key-watcher.ts'), kind, db().location, String(TTL)], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    child.stdin.write(`${secret}\n`)
    const lines: string[] = []
    const seen = (text: string) =>
      new Promise<number>((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => l.startsWith(`KEY ${text} `))
          if (line) resolve(Number(line.split(' ').pop()))
        }
        child.stdout.on('data', (d: Buffer) => (lines.push(...d.toString().trim().split('\n')), check()))
        child.on('exit', (code) => reject(new Error(`watcher exited (${code})`)))
        check()
      })
    try {
      await seen('ok')
      const revokedAt = Date.now()
      await keys.revokeApiKey(key.id)
      const refusedAt = await seen('ApiKeyRevokedError')
      expect(refusedAt - revokedAt).toBeLessThanOrEqual(TTL + 400)
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)
})
