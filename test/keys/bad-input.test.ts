/**
 * Bad input to the API key store: a typed InvalidArgumentError naming the field and what is
 * allowed, and nothing written (key rows and audit events counted) — on both databases. The
 * rejected value is never echoed when it may be a secret (a pepper).
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import { InvalidArgumentError, TenantNotFoundError, TenantStore, createApiKeys } from '../../src/index.ts'

async function counts(db: TestDatabase): Promise<[keys: number, events: number]> {
  const [k] = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_api_keys')
  const [e] = await db.rawQuery<{ n: number | string }>('SELECT COUNT(*) AS n FROM llm_audit_events')
  return [Number(k.n), Number(e.n)]
}

describe.each(DATABASES)('bad API key input on %s', (kind) => {
  const db = useDatabase(kind)

  it('each bad input is refused with the field named, writing nothing', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'bad' })
    const keys = createApiKeys(db().client)
    const { key } = await keys.createApiKey('bad', { name: 'ok' })
    const cases: Array<[field: string, allowed: RegExp, run: () => unknown]> = [
      ['input.name', /non-empty string of at most 100/, () => keys.createApiKey('bad', { name: '' })],
      ['input.name', /non-empty string/, () => keys.createApiKey('bad', {} as never)],
      ['input.name', /at most 100/, () => keys.createApiKey('bad', { name: 'n'.repeat(101) })],
      ['input.expiresAt', /valid Date/, () => keys.createApiKey('bad', { name: 'x', expiresAt: 'tomorrow' })],
      ['input.limits.dailyCost', /./, () => keys.createApiKey('bad', { name: 'x', limits: { dailyCost: -1 } })],
      ['input.limits.weeklyCost', /one of the limit types/, () => keys.createApiKey('bad', { name: 'x', limits: { weeklyCost: 1 } as never })],
      ['input.rateLimits.requestsPerMinute', /./, () => keys.createApiKey('bad', { name: 'x', rateLimits: { requestsPerMinute: 1.5 } })],
      ['input.rateLimits.requestsPerWeek', /./, () => keys.createApiKey('bad', { name: 'x', rateLimits: { requestsPerWeek: 1 } as never })],
      ['input.metadata', /plain JSON object/, () => keys.createApiKey('bad', { name: 'x', metadata: [] as never })],
      ['input.scopes', /one of the keys/, () => keys.createApiKey('bad', { name: 'x', scopes: ['all'] } as never)],
      ['tenantId', /non-empty string/, () => keys.createApiKey('', { name: 'x' })],
      ['changes.name', /non-empty string/, () => keys.updateApiKey(key.id, { name: '' })],
      ['changes.tenantId', /one of the keys/, () => keys.updateApiKey(key.id, { tenantId: 'other' } as never)],
      ['options.gracePeriod', /duration such as/, () => keys.rotateApiKey(key.id, { gracePeriod: '1 week' })],
      ['options.gracePeriod', /at most 30 days/, () => keys.rotateApiKey(key.id, { gracePeriod: '31d' })],
      ['options.gracePeriod', /0 to 2592000000/, () => keys.rotateApiKey(key.id, { gracePeriod: -1 })],
      ['options.grace', /one of the keys/, () => keys.rotateApiKey(key.id, { grace: 1 } as never)],
      ['keyId', /non-empty string/, () => keys.revokeApiKey('')],
      ['options.includeRotated', /true or false/, () => keys.listApiKeys('bad', { includeRotated: 'yes' as never })],
      ['audit.actor.type', /letters, digits/, () => keys.createApiKey('bad', { name: 'x' }, { actor: { type: '' } })],
      ['options.prefix', /lowercase letters and digits/, () => createApiKeys(db().client, { prefix: 'SK' })],
      ['options.prefix', /lowercase letters and digits/, () => createApiKeys(db().client, { prefix: 'sk-live' })],
      ['options.negativeCacheTtlMs', /integer from 0/, () => createApiKeys(db().client, { negativeCacheTtlMs: -5 })],
      ['options.pepper', /at least 16 characters/, () => createApiKeys(db().client, { pepper: 'short-pepper' })],
      ['options.salt', /one of the keys/, () => createApiKeys(db().client, { salt: 'x' } as never)],
    ]
    const before = await counts(db())
    for (const [field, allowed, run] of cases) {
      const err = await Promise.resolve()
        .then(run)
        .catch((e) => e)
      expect(err, field).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).field, field).toBe(field)
      expect((err as InvalidArgumentError).message, field).toMatch(allowed)
      expect((err as Error).message).not.toContain('short-pepper')
    }
    // A key for a tenant that does not exist.
    await expect(keys.createApiKey('nobody', { name: 'x' })).rejects.toBeInstanceOf(TenantNotFoundError)
    expect(await counts(db())).toEqual(before)
  })
})
