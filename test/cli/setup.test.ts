/**
 * The setup commands, run as the built `prisma-llm-tenant`:
 *
 * - `init` in app folders: a schema folder gets llm-tenant.prisma; a single schema.prisma gets the
 *   models merged in (its generator and datasource blocks byte for byte as they were, an outdated
 *   library model replaced, the result a valid schema by Prisma's own parser); the DDL becomes
 *   `prisma/migrations/<timestamp>_llm_tenant/migration.sql`; a second run changes nothing;
 *   `--dry-run` prints the diff and writes nothing; conflicts are refused before any write.
 * - `doctor` on SQLite and PostgreSQL: a database made from init's migration passes the schema
 *   check; dropped columns, indexes and tables, an obsolete index, WAL off and autovacuum off are
 *   each a line with a fix — and applying the printed fixes makes the database pass again.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import wasm from '@prisma/prisma-schema-wasm'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyLlmTenantSchema } from '../../src/db/schema.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { assertBuilt, cli, cliOn, json, root } from './support.ts'

const FRAGMENT = readFileSync(join(root, 'prisma/schema/llm-tenant.prisma'), 'utf8')
const DDL = { sqlite: readFileSync(join(root, 'prisma/sql/sqlite.sql'), 'utf8'), postgresql: readFileSync(join(root, 'prisma/sql/postgresql.sql'), 'utf8') }
const OUR_MODELS = [...FRAGMENT.matchAll(/^model (\w+) \{/gm)].map((m) => m[1])
const dirs: string[] = []

function app(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-cli-init-'))
  dirs.push(dir)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}

function migrations(dir: string): string[] {
  const m = join(dir, 'prisma/migrations')
  return existsSync(m) ? readdirSync(m).sort() : []
}

const GENERATOR = `generator client {
  provider = "prisma-client"   // keep   this spacing
  output   = "../generated/prisma"
  previewFeatures = []
}`
const DATASOURCE = `datasource db {
  provider = "postgresql" // the app's
}`
const OLD_TENANT = `/// An old version of the model.
model LlmTenant {
  id       String @id
  tenantId String @unique @map("tenant_id")

  @@map("llm_tenants")
}`
const USER_MODEL = `model User {
  id    Int    @id @default(autoincrement())
  email String @unique // {not a block}
}`

beforeAll(assertBuilt)
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('prisma-llm-tenant init', () => {
  it('a schema folder: copies llm-tenant.prisma and writes the DDL as a migration; a second run changes nothing', async () => {
    const dir = app({ 'prisma/schema/main.prisma': 'generator client {\n  provider = "prisma-client"\n}\n\ndatasource db {\n  provider = "sqlite"\n}\n' })
    const r = await cli(['init'], { cwd: dir })
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(join(dir, 'prisma/schema/llm-tenant.prisma'), 'utf8')).toBe(FRAGMENT)
    const [migration, lock] = migrations(dir)
    expect(migration).toMatch(/^\d{14}_llm_tenant$/)
    expect(readFileSync(join(dir, 'prisma/migrations', migration, 'migration.sql'), 'utf8')).toBe(DDL.sqlite)
    expect(lock).toBe('migration_lock.toml')
    expect(readFileSync(join(dir, 'prisma/migrations/migration_lock.toml'), 'utf8')).toContain('provider = "sqlite"')
    expect(r.stdout).toContain('created prisma/schema/llm-tenant.prisma')
    expect(r.stdout).toMatch(
      /Next steps:\n {2}1\. npx prisma-llm-tenant generate --schema prisma\/schema.*\n {2}2\. npx prisma migrate deploy.*\n {2}3\. npx prisma-llm-tenant doctor/,
    )

    const again = await cli(['init', '--json'], { cwd: dir })
    expect(again.status, again.stderr).toBe(0)
    expect(json(again)).toMatchObject({ provider: 'sqlite', schema: { kind: 'folder' }, changes: [] })
    expect(migrations(dir)).toEqual([migration, 'migration_lock.toml'])

    // The migration is what `prisma migrate deploy` runs: applied to an empty database, doctor's schema check passes.
    const file = join(dir, 'dev.db')
    const sqlite = new Database(file)
    sqlite.exec(readFileSync(join(dir, 'prisma/migrations', migration, 'migration.sql'), 'utf8'))
    sqlite.pragma('journal_mode = WAL')
    sqlite.close()
    const doctor = await cli(['doctor'], { cwd: dir, env: { DATABASE_URL: 'file:./dev.db' } })
    expect(doctor.stdout).toMatch(/^✓ schema matches the shipped DDL \(\d+ tables, \d+ indexes\)$/m)
    expect(doctor.status, doctor.stdout + doctor.stderr).toBe(0)
  })

  it('--rls (PostgreSQL): the row-level security policies as a second migration, idempotent; refused on SQLite', async () => {
    const dir = app({ 'prisma/schema/main.prisma': 'generator client {\n  provider = "prisma-client"\n}\n\ndatasource db {\n  provider = "postgresql"\n}\n' })
    const r = await cli(['init', '--rls'], { cwd: dir })
    expect(r.status, r.stderr).toBe(0)
    const names = migrations(dir)
    const rls = names.find((n) => /^\d{14}_llm_tenant_rls$/.test(n))
    const tables = names.find((n) => /^\d{14}_llm_tenant$/.test(n))
    expect(rls && tables && rls > tables, names.join()).toBe(true)
    const sql = readFileSync(join(dir, 'prisma/migrations', rls as string, 'migration.sql'), 'utf8')
    expect(sql).toContain('FORCE ROW LEVEL SECURITY')
    expect(sql).toContain("NULLIF(current_setting('app.tenant_id', true), '')")
    const again = await cli(['init', '--rls', '--json'], { cwd: dir })
    expect(json(again)).toMatchObject({ changes: [] })
    const custom = await cli(['init', '--rls', '--service-role', 'Bad-Role'], { cwd: dir })
    expect(custom.status).toBe(2)
    const sqlite = app({ 'prisma/schema/main.prisma': 'generator client {\n  provider = "prisma-client"\n}\n\ndatasource db {\n  provider = "sqlite"\n}\n' })
    const refused = await cli(['init', '--rls'], { cwd: sqlite })
    expect(refused.status).toBe(2)
    expect(refused.stderr).toContain('--rls')
    expect(existsSync(join(sqlite, 'prisma/migrations'))).toBe(false)
  })

  it('a single schema.prisma: merges the models, never touching generator, datasource or the app’s models; --dry-run writes nothing', async () => {
    const original = `// The app's schema.\n${GENERATOR}\n\n${DATASOURCE}\n\n${USER_MODEL}\n\n${OLD_TENANT}\n`
    const dir = app({ 'prisma/schema.prisma': original })
    const dry = await cli(['init', '--dry-run'], { cwd: dir })
    expect(dry.status, dry.stderr).toBe(0)
    expect(dry.stdout).toContain('--- a/prisma/schema.prisma\n+++ b/prisma/schema.prisma\n')
    expect(dry.stdout).toContain('-/// An old version of the model.')
    expect(dry.stdout).toContain('+model LlmExecution {')
    expect(dry.stdout).toMatch(/^--- \/dev\/null\n\+\+\+ b\/prisma\/migrations\/\d{14}_llm_tenant\/migration\.sql$/m)
    expect(dry.stdout).toContain('(dry run: 3 file(s) would be written; nothing was)')
    expect(readFileSync(join(dir, 'prisma/schema.prisma'), 'utf8')).toBe(original)
    expect(migrations(dir)).toEqual([])

    const r = await cli(['init', '--json'], { cwd: dir })
    expect(r.status, r.stderr).toBe(0)
    const result = json<{ provider: string; schema: { modelsAdded: string[]; modelsReplaced: string[] } }>(r)
    expect(result.provider).toBe('postgresql')
    expect(result.schema.modelsReplaced).toEqual(['LlmTenant'])
    expect(result.schema.modelsAdded).toEqual(OUR_MODELS.filter((m) => m !== 'LlmTenant'))
    const merged = readFileSync(join(dir, 'prisma/schema.prisma'), 'utf8')
    expect(merged.startsWith(`// The app's schema.\n${GENERATOR}\n\n${DATASOURCE}\n\n${USER_MODEL}\n\n`)).toBe(true)
    expect(merged).not.toContain('An old version')
    const dmmf = JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', merged]] }))) as { datamodel: { models: Array<{ name: string }> } }
    expect(dmmf.datamodel.models.map((m) => m.name).sort()).toEqual(['User', ...OUR_MODELS].sort())
    const [migration] = migrations(dir)
    expect(readFileSync(join(dir, 'prisma/migrations', migration, 'migration.sql'), 'utf8')).toBe(DDL.postgresql)

    const again = await cli(['init'], { cwd: dir })
    expect(again.stdout).toContain('Nothing to change')
    expect(readFileSync(join(dir, 'prisma/schema.prisma'), 'utf8')).toBe(merged)
    expect(migrations(dir)).toHaveLength(2)
  })

  it('refuses before writing: a provider other than the datasource’s, models declared twice, no schema', async () => {
    const single = app({ 'prisma/schema.prisma': `${GENERATOR}\n\n${DATASOURCE}\n` })
    const wrong = await cli(['init', '--provider', 'sqlite'], { cwd: single })
    expect(wrong.status).toBe(2)
    expect(wrong.stderr).toContain('--provider: "sqlite" is not allowed; expected postgresql')
    const bad = await cli(['init', '--provider', 'mysql'], { cwd: single })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/option "--provider <provider>" argument "mysql" is invalid\. Allowed choices are sqlite, postgresql/)
    expect(readFileSync(join(single, 'prisma/schema.prisma'), 'utf8')).toBe(`${GENERATOR}\n\n${DATASOURCE}\n`)
    expect(migrations(single)).toEqual([])

    const folder = app({ 'prisma/schema/main.prisma': 'datasource db {\n  provider = "sqlite"\n}\n', 'prisma/schema/mine.prisma': OLD_TENANT })
    const twice = await cli(['init'], { cwd: folder })
    expect(twice.status).toBe(1)
    expect(twice.stderr).toContain('prisma/schema/mine.prisma already declares LlmTenant')
    expect(existsSync(join(folder, 'prisma/schema/llm-tenant.prisma'))).toBe(false)
    expect(migrations(folder)).toEqual([])

    const none = await cli(['init'], { cwd: app({ 'package.json': '{}' }) })
    expect(none.status).toBe(1)
    expect(none.stderr).toContain('no Prisma schema found')
  })
})

describe.each(DATABASES)('prisma-llm-tenant doctor (%s)', (kind) => {
  const db = useDatabase(kind)

  it('each problem is a line with its fix, exit 1; applying the fixes makes it pass', async () => {
    if (kind === 'sqlite') {
      await db().rawQuery('ALTER TABLE llm_api_keys DROP COLUMN metadata')
      await db().rawQuery('DROP TABLE llm_agent_templates')
    } else {
      await db().rawQuery('ALTER TABLE llm_api_keys DROP COLUMN metadata')
      await db().rawQuery('DROP TABLE llm_agent_templates')
      await db().rawQuery('ALTER TABLE llm_rate_limits SET (autovacuum_enabled = false)')
    }
    await db().rawQuery('DROP INDEX llm_executions_trace_id_idx')
    await db().rawQuery('CREATE INDEX llm_executions_tenant_spend_idx ON llm_executions (tenant_id, started_at)')

    const text = await cliOn(db(), ['doctor'])
    expect(text.status, text.stderr).toBe(1)
    expect(text.stdout).toContain('✗ column llm_api_keys.metadata is missing — fix: ALTER TABLE "llm_api_keys" ADD COLUMN "metadata" JSONB;')
    expect(text.stdout).toContain('✗ table llm_agent_templates is missing — fix: apply the shipped DDL')
    expect(text.stdout).toContain(
      '✗ index llm_executions_trace_id_idx on llm_executions is missing — fix: CREATE INDEX IF NOT EXISTS "llm_executions_trace_id_idx" ON "llm_executions"("trace_id");',
    )
    expect(text.stdout).toContain(
      '✗ obsolete index llm_executions_tenant_spend_idx (replaced in a later version) still exists: it slows every insert — fix: DROP INDEX',
    )
    expect(text.stdout).toMatch(/^✓ clock skew between this machine and the database: \d+ ms.*at most 1000 ms allowed$/m)
    if (kind === 'sqlite') expect(text.stdout).toMatch(/^✗ SQLite journal_mode is delete, not WAL.* — fix: sqlite3 ".*" 'PRAGMA journal_mode=WAL;'/m)
    else expect(text.stdout).toContain('✗ autovacuum is disabled on table llm_rate_limits — fix: ALTER TABLE "llm_rate_limits" RESET (autovacuum_enabled);')

    const report = json<{ ok: boolean; findings: Array<{ check: string; ok: boolean; message: string; fix?: string }> }>(
      await cliOn(db(), ['doctor', '--json']),
    )
    expect(report.ok).toBe(false)
    for (const f of report.findings.filter((f) => !f.ok)) {
      if (f.message.startsWith('table ')) await applyLlmTenantSchema(db().client as never)
      else if (f.check === 'journal_mode') await db().rawQuery('PRAGMA journal_mode=WAL')
      else if (f.message === 'autovacuum is off on this server')
        continue // the test server's own setting (ALTER SYSTEM is not ours to run)
      else await db().rawQuery((f.fix as string).replace(/;$/, ''))
    }
    const fixed = await cliOn(db(), ['doctor', '--json'])
    const after = json<typeof report>(fixed).findings.filter((f) => !f.ok)
    const [server] = kind === 'postgresql' ? await db().rawQuery<{ autovacuum: string }>('SHOW autovacuum') : [{ autovacuum: 'on' }]
    expect(after.map((f) => f.message)).toEqual(server.autovacuum === 'on' ? [] : ['autovacuum is off on this server'])
    expect(fixed.status).toBe(after.length === 0 ? 0 : 1)
  })

  it('bad flag values exit 2 before connecting', async () => {
    const r = await cliOn(db(), ['doctor', '--max-skew-ms', 'soon'])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('--max-skew-ms: "soon" is not allowed; expected an integer from 1 to 3600000')
  })
})
