/**
 * A failure at any step of provisioning writes nothing: each step's table is made unusable in turn
 * (renamed away with raw SQL, and back in `finally` — the same statement on SQLite and PostgreSQL),
 * and the failed run must leave the row count of every table of the library unchanged. The same
 * request then succeeds with the same idempotency key: no half-provisioned tenant is in its way.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import { request, rowCounts, setUp } from './setup.ts'

const STEPS = [
  ['tenant insert', 'llm_tenants'],
  ['plan assignment', 'llm_tenant_plans'],
  ['agent clone', 'llm_agent_configs'],
  ['key insert', 'llm_api_keys'],
  ['audit insert', 'llm_audit_events'],
] as const

async function withTableGone<T>(db: TestDatabase, table: string, fn: () => Promise<T>): Promise<T> {
  await db.rawQuery(`ALTER TABLE ${table} RENAME TO ${table}_away`)
  try {
    return await fn()
  } finally {
    await db.rawQuery(`ALTER TABLE ${table}_away RENAME TO ${table}`)
  }
}

describe.each(DATABASES)('provisioning failures on %s', (kind) => {
  const db = useDatabase(kind)

  it.each(STEPS)('a failure at the %s (%s) writes nothing', async (step, table) => {
    const { provisioning } = await setUp(db())
    const tenantId = `fail-${table}`
    const before = await rowCounts(db())
    const err = await withTableGone(db(), table, () => provisioning.provisionTenant(request(tenantId, `key-${table}`))).catch((e: unknown) => e)
    // It failed at this step: the error names the table that was gone.
    expect(err, step).toBeInstanceOf(Error)
    expect(String((err as Error).message), step).toContain(table)
    expect(await rowCounts(db()), step).toEqual(before)

    const retried = await provisioning.provisionTenant(request(tenantId, `key-${table}`))
    expect(retried.replayed).toBe(false)
    expect(retried.apiKey.secret).not.toBeNull()
  })
})
