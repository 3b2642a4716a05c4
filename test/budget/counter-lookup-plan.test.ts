/**
 * Regression (found by bench scenario 8): with the dashboard's bucket index on
 * `llm_budget_counters (period, bucket, scope)`, PostgreSQL's generic plans — the ones the hot
 * path's prepared statements run on — chose it for admission's and settle's by-key row lookups and
 * filtered every tenant's row of the bucket on each lookup. The index now ends with the rest of the
 * key, so whichever index the planner takes matches the whole key.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, POSTGRES_URL, type TestDatabase } from '../support/databases.ts'

describe.runIf(POSTGRES_URL)('counter row lookups on postgresql', () => {
  let db: TestDatabase
  let conn: pg.Client
  beforeAll(async () => {
    db = await openDatabase('postgresql')
    conn = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path="${db.location}"` })
    await conn.connect()
    // One month bucket with 300 tenants' rows (and their day rows), as a busy month has.
    await conn.query(`INSERT INTO "llm_budget_counters" ("scope", "tenant_id", "agent_type", "period", "bucket")
      SELECT 'tenant', 't-' || i, '*', p.period, p.bucket FROM generate_series(1, 300) AS i,
        (VALUES ('month', '2026-12'), ('day', '2026-12-03')) AS p(period, bucket)`)
    // No ANALYZE: a table the hot path fills before statistics exist (autovacuum had not analysed it
    // yet, or is off as on the bench machines) is where the old index won.
  })
  afterAll(async () => {
    await conn?.end()
    await db?.close()
  })

  it('the generic plan of a by-key lookup (as admission locks its rows) matches the whole key, filtering no rows (verified failing with the old index)', async () => {
    await conn.query('SET plan_cache_mode = force_generic_plan')
    await conn.query(`PREPARE lookup(text, text, text, text, text) AS SELECT * FROM "llm_budget_counters"
      WHERE "scope" = $1 AND "tenant_id" = $2 AND "agent_type" = $3 AND "period" = $4 AND "bucket" = $5 FOR UPDATE`)
    const { rows } = await conn.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE lookup('tenant', 't-7', '*', 'month', '2026-12')`)
    const plan = JSON.stringify(rows[0]['QUERY PLAN'])
    const conditions = [...plan.matchAll(/"Index Cond":"([^"]*)"/g)].map((m) => m[1])
    expect(conditions.length).toBeGreaterThan(0)
    for (const c of conditions) for (const column of ['scope', 'tenant_id', 'agent_type', 'period', 'bucket']) expect(c).toContain(column)
    expect(plan).not.toMatch(/"Rows Removed by Filter":[1-9]/)
  })
})
