/**
 * Scenario 9: tenant API keys. `verifyApiKey` p50 with the key cached (the steady state: one hash
 * and a Map lookup) and uncached (`tenantCacheTtlMs: 0`: the key and its tenant read by the unique
 * hash index on every call), with 100 keys and with 100,000 keys in the table (verification must
 * not slow down with the table: ratio 100k ÷ 100, two databases measured in alternating rounds);
 * and a tracked call attributed to a key (its id on the ledger row, the key's limits looked up
 * through the admission cache) ÷ the same call without, alternating rounds in one run — goal ≤ 1.05.
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

/** One database with TENANTS tenants and a key each, and `total` keys in all. */
async function keyedDatabase(kind: DbKind, total: number) {
  const db = await openDatabase(kind)
  if (kind === 'sqlite') await db.rawQuery('PRAGMA journal_mode = WAL') // the recommended setup, as in scenario 1
  const store = new TenantStore(db.client)
  for (let t = 0; t < TENANTS; t++) await store.upsert({ tenantId: `tenant-${t}` })
  const cached = createApiKeys(db.client, { config: { tenantCacheTtlMs: 3_600_000 } })
  const uncached = createApiKeys(db.client, { config: { tenantCacheTtlMs: 0 } })
  const issued = await Promise.all(Array.from({ length: TENANTS }, (_, t) => cached.createApiKey(`tenant-${t}`, { name: 'bench' })))
  await seedKeys(db, total - TENANTS)
  const secrets = issued.map((k) => k.secret)
  // Warm both paths (JIT, prepared statements, page cache) before the first measured round.
  for (let i = 0; i < 200; i++) await Promise.all([cached.verifyApiKey(secrets[i % TENANTS]), uncached.verifyApiKey(secrets[i % TENANTS])])
  return { db, cached, uncached, issued, secrets }
}

/**
 * Autovacuum is off on these machines: the per-call rounds rewrite hold, counter and ledger rows,
 * so they are vacuumed before each round (outside the timing), as scenario 8 does.
 */
async function vacuum(db: TestDatabase): Promise<void> {
  if (db.kind === 'postgresql') await db.rawQuery('VACUUM "llm_budget_holds", "llm_budget_counters", "llm_executions"')
}

/** B ÷ the mean of the A rounds on either side (rounds A, B, A, …, A): cancels load that drifts over a pair. */
const betweenRatios = (a: number[], b: number[]) => b.map((v, i) => v / ((a[i] + a[i + 1]) / 2))

export async function apiKeysScenario(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const runs = new Map<string, number[]>()
  const add = (k: string, v: number) => runs.set(k, [...(runs.get(k) ?? []), v])
  const p50 = async (n: number, fn: (i: number) => Promise<unknown>) => percentile(await timeCalls(n, fn), 50) * 1000
  // 100 and 100,000 keys in two databases side by side, their rounds alternating (A, B, A, …, A),
  // so that the ratio compares table sizes and not two phases of the run.
  const small = await keyedDatabase(kind, 100)
  const large = await keyedDatabase(kind, 100_000)
  try {
    const pairs = Math.max(mode.repeats, 3)
    const verifyRound = async (label: string, side: typeof small) => {
      add(`cached ${label}`, await p50(mode.calls, (i) => side.cached.verifyApiKey(side.secrets[i % TENANTS])))
      add(`uncached ${label}`, await p50(Math.min(mode.calls, 1000), (i) => side.uncached.verifyApiKey(side.secrets[i % TENANTS])))
    }
    for (let r = 0; r <= pairs; r++) {
      await verifyRound('100', small)
      if (r < pairs) await verifyRound('100k', large)
    }

    // Attributed ÷ not: the same tenants, calls and config; rounds A (without), B (with), A, …, A.
    const { db, issued } = small
    const budgets = new LlmBudgets(db.client, PER_CALL_CONFIG)
    const ids = issued.map((k) => k.key.id)
    // Both variants build their call as an object literal per call, the way an app (and the agent
    // runtime) writes it, and differ only in `apiKeyId`. An earlier version spread the shared call
    // (`{ ...call, apiKeyId }`) for one variant only: V8 builds a spread-plus-property object on a
    // slow path, and that alone measured 1.04 of the per-call p50 on SQLite with `apiKeyId: null`.
    const { agentType, model, estimate } = call
    const withKey = (i: number) => budgets.track(`tenant-${i % TENANTS}`, { agentType, model, estimate, apiKeyId: ids[i % TENANTS] }, usage)
    const without = (i: number) => budgets.track(`tenant-${i % TENANTS}`, { agentType, model, estimate }, usage)
    for (let i = 0; i < 80; i++) await (i % 2 ? withKey(i) : without(i))
    for (let r = 0; r <= pairs * 2; r++) {
      await vacuum(db)
      add('without', await p50(mode.calls, without))
      if (r === pairs * 2) break
      await vacuum(db)
      add('with', await p50(mode.calls, withKey))
    }
  } finally {
    await small.db.close()
    await large.db.close()
  }
  const get = (k: string) => runs.get(k) as number[]
  return [
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, cached, 100 keys', unit: 'µs', runs: get('cached 100') },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, uncached, 100 keys', unit: 'µs', runs: get('uncached 100') },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, cached, 100,000 keys', unit: 'µs', runs: get('cached 100k') },
    { scenario: SCENARIO, db: kind, metric: 'verifyApiKey p50, uncached, 100,000 keys', unit: 'µs', runs: get('uncached 100k') },
    {
      scenario: SCENARIO,
      db: kind,
      metric: 'verifyApiKey uncached p50 ratio 100,000 ÷ 100 keys (two databases, alternating rounds; each ÷ the 100-key rounds either side)',
      unit: '×',
      runs: betweenRatios(get('uncached 100'), get('uncached 100k')),
    },
    { scenario: SCENARIO, db: kind, metric: 'per-call p50 without a key', unit: 'µs', runs: get('without') },
    { scenario: SCENARIO, db: kind, metric: 'per-call p50 attributed to a key', unit: 'µs', runs: get('with') },
    {
      scenario: SCENARIO,
      db: kind,
      metric: 'per-call p50 with a key ÷ without (alternating rounds; each ÷ the rounds either side)',
      unit: '×',
      runs: betweenRatios(get('without'), get('with')),
    },
  ]
}
