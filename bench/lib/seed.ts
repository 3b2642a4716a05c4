/**
 * Bulk seeding of the ledger through the raw drivers (fast, and not what is being measured):
 * `rows` executions spread over `tenants` tenants and the `days` days before `now`, 5% without a
 * tenant, four agent types, three models, 2% errors. Afterwards refreshCounters builds the current
 * buckets' counters from the ledger, as an app adopting the library on an existing ledger would.
 */
import Database from 'better-sqlite3'
import type { TestDatabase } from '../../test/support/databases.ts'

export interface SeedSpec {
  rows: number
  tenants: number
  days: number
  now: Date
}

const AGENTS = ['Support', 'Search', 'Summarizer', 'Translator']
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5']

export async function seedLedger(db: TestDatabase, spec: SeedSpec): Promise<void> {
  const span = spec.days * 86_400
  if (db.kind === 'postgresql') {
    await db.rawQuery(`SET search_path TO "${db.location}"`)
    await db.rawQuery(
      `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
         input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at)
       SELECT 'seed-' || g, CASE WHEN g % 20 = 0 THEN NULL ELSE 'tenant-' || (g % $2) END,
         (ARRAY['Support','Search','Summarizer','Translator'])[1 + g % 4], 'openai', (ARRAY['gpt-4o','gpt-4o-mini','claude-sonnet-4-5'])[1 + g % 3],
         CASE WHEN g % 50 = 0 THEN 'error' ELSE 'success' END, 100 + g % 900, 50 + g % 300, 150 + g % 900 + g % 300,
         (g % 9000) * 15, (g % 7000) * 60, (g % 9000) * 15 + (g % 7000) * 60, 500, ts, ts, ts
       FROM (SELECT g, $3::timestamp - ((g::bigint * $4) / $1) * INTERVAL '1 second' AS ts FROM generate_series(1, $1::int) g) s`,
      [spec.rows, spec.tenants, spec.now.toISOString().replace('Z', ''), span],
    )
    await db.rawQuery('ANALYZE llm_executions')
    return
  }
  const raw = new Database(db.location)
  raw.pragma('journal_mode = WAL')
  const insert = raw.prepare(
    `INSERT INTO llm_executions (id, tenant_id, agent_type, provider, model, status, input_tokens, output_tokens, total_tokens,
       input_cost_nanos, output_cost_nanos, total_cost_nanos, duration_ms, started_at, completed_at, created_at)
     VALUES (?, ?, ?, 'openai', ?, ?, ?, ?, ?, ?, ?, ?, 500, ?, ?, ?)`,
  )
  const nowMs = spec.now.getTime()
  raw.transaction(() => {
    for (let g = 1; g <= spec.rows; g++) {
      const ts = new Date(nowMs - Math.floor((g * span) / spec.rows) * 1000).toISOString().replace('Z', '+00:00')
      const input = 100 + (g % 900)
      const output = 50 + (g % 300)
      insert.run(
        `seed-${g}`,
        g % 20 === 0 ? null : `tenant-${g % spec.tenants}`,
        AGENTS[g % 4],
        MODELS[g % 3],
        g % 50 === 0 ? 'error' : 'success',
        input,
        output,
        input + output,
        (g % 9000) * 15,
        (g % 7000) * 60,
        (g % 9000) * 15 + (g % 7000) * 60,
        ts,
        ts,
        ts,
      )
    }
  })()
  raw.exec('ANALYZE')
  raw.close()
}
