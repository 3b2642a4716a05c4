/**
 * Proves the shipped DDL (prisma/sql/<provider>.sql) and the shipped Prisma models
 * (prisma/schema/llm-tenant.prisma) agree: every model ↔ table, field ↔ column, type, nullability,
 * default and index (with Prisma's naming convention), with nothing extra on either side. The
 * models are read with Prisma's own schema parser (prisma-schema-wasm); the tables are read back
 * from a real database after applying the DDL through the driver.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import wasm from '@prisma/prisma-schema-wasm'
import { DATABASES, useDatabase, type DbKind, type TestDatabase } from '../support/databases.ts'
import { schemaFragmentPath, ddlStatements } from '../../src/db/schema.ts'

interface DmmfField {
  name: string
  dbName?: string | null
  kind: string
  type: string
  isRequired: boolean
  isList: boolean
  isUpdatedAt: boolean
  hasDefaultValue: boolean
  default?: unknown
}
interface DmmfModel {
  name: string
  dbName: string | null
  fields: DmmfField[]
}
interface DmmfIndex {
  model: string
  type: 'id' | 'unique' | 'normal' | 'fulltext'
  dbName?: string | null
  fields: { name: string }[]
}

function readModels(provider: DbKind): { models: DmmfModel[]; indexes: DmmfIndex[] } {
  const files: [string, string][] = [
    ['datasource.prisma', `datasource db {\n  provider = "${provider}"\n}\n`],
    ['llm-tenant.prisma', readFileSync(schemaFragmentPath, 'utf8')],
  ]
  const dmmf = JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: files }))) as { datamodel: { models: DmmfModel[]; indexes: DmmfIndex[] } }
  return dmmf.datamodel
}

const TYPES: Record<DbKind, Record<string, string>> = {
  sqlite: { String: 'TEXT', Int: 'INTEGER', BigInt: 'BIGINT', Boolean: 'BOOLEAN', DateTime: 'DATETIME', Json: 'JSONB' },
  postgresql: { String: 'text', Int: 'integer', BigInt: 'bigint', Boolean: 'boolean', DateTime: 'timestamp(3) without time zone', Json: 'jsonb' },
}

function expectedDefault(field: DmmfField, kind: DbKind): string | null {
  if (!field.hasDefaultValue) return null
  const d = field.default as { name?: string } | string | number | boolean
  if (typeof d === 'object' && d !== null && d.name === 'now') return 'CURRENT_TIMESTAMP'
  if (typeof d === 'boolean' || typeof d === 'number') return String(d)
  if (typeof d === 'string' && field.type === 'BigInt' && /^-?\d+$/.test(d)) return d
  if (typeof d === 'string' && field.type === 'String') return kind === 'sqlite' ? `'${d}'` : `'${d}'::text`
  throw new Error(`unhandled default on ${field.name}: ${JSON.stringify(d)}`)
}

interface Column {
  name: string
  type: string
  notNull: boolean
  default: string | null
}
interface Index {
  name: string
  kind: 'id' | 'unique' | 'normal'
  columns: string[]
}

async function readTable(db: TestDatabase, table: string): Promise<{ columns: Column[]; indexes: Index[] }> {
  if (db.kind === 'sqlite') {
    const cols = await db.rawQuery<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(`PRAGMA table_info("${table}")`)
    const list = await db.rawQuery<{ name: string; unique: number; origin: string }>(`PRAGMA index_list("${table}")`)
    const indexes: Index[] = []
    for (const idx of list) {
      const info = await db.rawQuery<{ name: string; seqno: number }>(`PRAGMA index_info("${idx.name}")`)
      indexes.push({
        name: idx.origin === 'pk' ? `${table}_pkey` : idx.name,
        kind: idx.origin === 'pk' ? 'id' : idx.unique ? 'unique' : 'normal',
        columns: info.sort((a, b) => a.seqno - b.seqno).map((i) => i.name),
      })
    }
    return {
      columns: cols.map((c) => ({ name: c.name, type: c.type, notNull: c.notnull === 1 || c.pk === 1, default: c.dflt_value })),
      indexes,
    }
  }
  const cols = await db.rawQuery<{ column_name: string; type: string; is_nullable: string; column_default: string | null }>(
    `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable, pg_get_expr(d.adbin, d.adrelid) AS column_default
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [db.location, table],
  )
  const idx = await db.rawQuery<{ name: string; is_primary: boolean; is_unique: boolean; columns: string[] }>(
    `SELECT i.relname AS name, x.indisprimary AS is_primary, x.indisunique AS is_unique,
            ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1 AND t.relname = $2`,
    [db.location, table],
  )
  return {
    columns: cols.map((c) => ({ name: c.column_name, type: c.type, notNull: c.is_nullable === 'NO', default: c.column_default })),
    indexes: idx.map((i) => ({ name: i.name, kind: i.is_primary ? 'id' : i.is_unique ? 'unique' : 'normal', columns: i.columns })),
  }
}

async function listTables(db: TestDatabase): Promise<string[]> {
  const rows =
    db.kind === 'sqlite'
      ? await db.rawQuery<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      : await db.rawQuery<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1`, [db.location])
  return rows.map((r) => r.name).sort()
}

describe.each(DATABASES)('shipped DDL matches the Prisma models on %s', (kind) => {
  const db = useDatabase(kind)
  const { models, indexes } = readModels(kind)

  it('has exactly one table per model', async () => {
    expect(await listTables(db())).toEqual(models.map((m) => m.dbName ?? m.name).sort())
  })

  it.each(models.map((m) => [m.name, m] as const))('%s: columns, types, nullability and defaults', async (_name, model) => {
    const table = await readTable(db(), model.dbName ?? model.name)
    const scalar = model.fields.filter((f) => f.kind === 'scalar')
    const expected = scalar.map((f) => ({
      name: f.dbName ?? f.name,
      type: TYPES[kind][f.type] ?? `unmapped ${f.type}`,
      notNull: f.isRequired,
      default: expectedDefault(f, kind),
    }))
    expect(table.columns).toEqual(expected)
  })

  it.each(models.map((m) => [m.name, m] as const))('%s: indexes and their Prisma-convention names', async (_name, model) => {
    const tableName = model.dbName ?? model.name
    const table = await readTable(db(), tableName)
    const col = (field: string) => {
      const f = model.fields.find((x) => x.name === field)
      return f?.dbName ?? field
    }
    const expected = indexes
      .filter((i) => i.model === model.name)
      .map((i) => {
        const columns = i.fields.map((f) => col(f.name))
        const convention = i.type === 'id' ? `${tableName}_pkey` : `${tableName}_${columns.join('_')}_${i.type === 'unique' ? 'key' : 'idx'}`
        const name = i.dbName ?? convention // an explicit `map:` name, else Prisma's convention
        return { name, kind: i.type, columns }
      })
    const sort = (xs: Index[]) => [...xs].sort((a, b) => a.name.localeCompare(b.name))
    expect(sort(table.indexes)).toEqual(sort(expected as Index[]))
  })

  it('the DDL is idempotent (applying it twice changes nothing)', async () => {
    for (const statement of ddlStatements(kind)) await db().client.$executeRawUnsafe(statement)
    expect(await listTables(db())).toHaveLength(models.length)
  })
})
