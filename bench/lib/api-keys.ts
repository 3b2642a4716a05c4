/**
 * Scenario 9: tenant API keys. `verifyApiKey` p50 with the key cached (the steady state: one hash
 * and a Map lookup) and uncached (`tenantCacheTtlMs: 0`: the key and its tenant read by the unique
 * hash index on every call), with 100 keys and with 100,000 keys in the table (verification must
 * not slow down with the table: ratio 100k ÷ 100); and a tracked call attributed to a key (its id
 * on the ledger row, the key's limits looked up through the admission cache) ÷ the same call
 * without, alternating rounds in one run — goal ≤ 1.05.
 */
import { randomUUID } from 'node:crypto'
import { LlmBudgets, TenantStore, createApiKeys } from '../../src/index.ts'
import { hashApiKey } from '../../src/keys/format.ts'
import { openDatabase, type DbKind, type TestDatabase } from '../../test/support/databases.ts'
import { call, PER_CALL_CONFIG, usage, type Mode } from '../scenarios.ts'
import { percentile, timeCalls, type Figure } from './stats.ts'

const SCENARIO = '9 tenant API keys'
const TENANTS = 8

/** `n` more keys of tenant-0 with random hashes, inserted in bulk through the raw driver (not measured). */
async function seedKeys(db: TestDatabase, n: number): Promise<void> {
  const batch = 1000
  for (let i = 0; i < n; i += batch) {
    const rows = Array.from({ length: Math.min(batch, n - i) }, (_, j) => [
      randomUUID(),
      'tenant-0',
      `seed-${i + j}`,
      'sk_seed',
      hashApiKey(randomUUID(), null),
    ])
    const values = rows.map(
      (_, r) =>
        `(${[0, 1, 2, 3, 4].map((c) => (db.kind === 'postgresql' ? `$${r * 5 + c + 1}` : '?')).join(', ')}, ${db.kind === 'postgresql' ? 'NOW()' : "'2026-01-01 00:00:00'"})`,
    )
    await db.rawQuery(`INSERT INTO llm_api_keys (id, tenant_id, name, start, hash, created_at) VALUES ${values.join(', ')}`, rows.flat())
  }
  if (db.kind === 'postgresql') await db.rawQuery('ANALYZE llm_api_keys')
}

export async function apiKeysScenario(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const db = await openDatabase(kind)
  const runs = new Map<string, number[]>()
  const add = (k: string, v: number) => runs.set(k, [...(runs.get(k) ?? []), v])
  try {
    if (kind === 'sqlite') await db.rawQuery('PRAGMA journal_mode = WAL') // the recommended setup, as in scenario 1
    const store = new TenantStore(db.client)
    for (let t = 0; t < TENANTS; t++) await store.upsert({ tenantId: `tenant-${t}` })
    const cachedKeys = createApiKeys(db.client, { config: { tenantCacheTtlMs: 3_600_000 } })
    const uncachedKeys = createApiKeys(db.client, { config: { tenantCacheTtlMs: 0 } })
    const issued = await Promise.all(Array.from({ length: TENANTS }, (_, t) => cachedKeys.createApiKey(`tenant-${t}`, { name: 'bench' })))
    const secrets = issued.map((k) => k.secret)
    const verify = async (label: string) => {
      // Warm both paths (JIT, prepared statements, page cache) before the first measured round.
      for (let i = 0; i < 200; i++) await Promise.all([cachedKeys.verifyApiKey(secrets[i % TENANTS]), uncachedKeys.verifyApiKey(secrets[i % TENANTS])])
      for (let r = 0; r < mode.repeats; r++) {
        add(`cached ${label}`, percentile(await timeCalls(mode.calls, (i) => cachedKeys.verifyApiKey(secrets[i % TENANTS])), 50) * 1000)
        add(`uncached ${label}`, percentile(await timeCalls(Math.min(mode.calls, 1000), (i) => uncachedKeys.verifyApiKey(secrets[i % TENANTS])), 50) * 1000)
      }
    }
    await seedKeys(db, 100 - TENANTS)
    await verify('100')
    await seedKeys(db, 100_000 - 100)
    await verify('100k')

    // Attributed ÷ not: the same tenants, calls and config; rounds alternate so drift hits both.
    const budgets = new LlmBudgets(db.client, PER_CALL_CONFIG)
    const ids = issued.map((k) => k.key.id)
    const withKey = (i: number) => budgets.track(`tenant-${i % TENANTS}`, { ...call, apiKeyId: ids[i % TENANTS] }, usage)
    const without = (i: number) => budgets.track(`tenant-${i % TENANTS}`, call, usage)
    for (let i = 0; i < 80; i++) await (i % 2 ? withKey(i) : without(i))
    for (let r = 0; r < Math.max(mode.repeats, 3); r++) {
      add('without', percentile(await timeCalls(mode.calls, without), 50) * 1000)
      add('with', percentile(await timeCalls(mode.calls, withKey), 50) * 1000)
    }
  } finally {
    await db.close()
  }
  const ratio = (a: string, b: string) => runs.get(a)!.map((v, i) => v / runs.get(b)![i])
  return [
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, cached, 100 keys', unit: 'µs', runs: runs.get('cached 100')! },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, uncached, 100 keys', unit: 'µs', runs: runs.get('uncached 100')! },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, cached, 100,000 keys', unit: 'µs', runs: runs.get('cached 100k')! },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, uncached, 100,000 keys', unit: 'µs', runs: runs.get('uncached 100k')! },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey uncached p50 ratio 100,000 ÷ 100 keys', unit: '×', runs: ratio('uncached 100k', 'uncached 100') },
    { scenario: SCENARIO, db: kind, metric: 'per-call p50 attributed to a key', unit: 'µs', runs: runs.get('with')! },
    { scenario: SCENARIO, db: kind, metric: 'per-call p50 with a key ÷ without', unit: '×', runs: ratio('with', 'without') },
  ]
}
