/**
 * `doctor`'s schema check: the database's tables, columns and indexes against the shipped DDL
 * (prisma/sql/<provider>.sql, the same statements applyLlmTenantSchema runs). The DDL is read as
 * statements, so a table or index added to it in a later version is checked without a change here.
 * Each difference is one finding with the statement that fixes it.
 */
import { ddlStatements } from '../db/schema.js'
import type { SqlProvider } from '../db/client.js'
import type { RawRunner } from '../db/client.js'

export interface Finding {
  check: string
  ok: boolean
  message: string
  fix?: string
}

interface ExpectedColumn {
  name: string
  type: string
  notNull: boolean
  definition: string
}

export interface ExpectedSchema {
  tables: Map<string, { columns: ExpectedColumn[]; statement: string }>
  indexes: Map<string, { table: string; statement: string }>
  /** Indexes earlier versions created and the DDL drops. */
  obsolete: string[]
}

const COLUMN = /^\s*"(\w+)"\s+([A-Z]+(?:\s+PRECISION)?(?:\(\d+(?:,\s*\d+)?\))?)(.*?),?\s*$/

/** The tables, columns and indexes the shipped DDL creates. */
export function expectedSchema(provider: SqlProvider): ExpectedSchema {
  const expected: ExpectedSchema = { tables: new Map(), indexes: new Map(), obsolete: [] }
  for (const statement of ddlStatements(provider)) {
    const table = /^CREATE TABLE IF NOT EXISTS "(\w+)"\s*\(([\s\S]*)\)$/.exec(statement)
    if (table) {
      const columns = table[2]
        .split('\n')
        .map((line) => COLUMN.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ name: m[1], type: m[2], notNull: /\bNOT NULL\b/.test(m[3]), definition: `"${m[1]}" ${m[2]}${m[3].replace(/,\s*$/, '')}` }))
      expected.tables.set(table[1], { columns, statement })
      continue
    }
    const added = /^ALTER TABLE "(\w+)" ADD COLUMN IF NOT EXISTS "(\w+)" (.+)$/.exec(statement)
    if (added) {
      const columns = expected.tables.get(added[1])?.columns
      const type = added[3].split(/\s/)[0]
      if (columns && !columns.some((c) => c.name === added[2]))
        columns.push({ name: added[2], type, notNull: /\bNOT NULL\b/.test(added[3]), definition: `"${added[2]}" ${added[3]}` })
      continue
    }
    const index = /^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS "(\w+)" ON "(\w+)"/.exec(statement)
    if (index) {
      expected.indexes.set(index[1], { table: index[2], statement })
      continue
    }
    const dropped = /^DROP INDEX IF EXISTS "(\w+)"$/.exec(statement)
    if (dropped) expected.obsolete.push(dropped[1])
  }
  return expected
}

/** A column as the database reports it. */
export interface ActualColumn {
  table: string
  name: string
  type: string
  notNull: boolean
}

/** The catalog of the library's tables (`llm_%`) in the connected schema. */
export async function readCatalog(db: RawRunner, provider: SqlProvider): Promise<{ columns: ActualColumn[]; indexes: Map<string, string> }> {
  if (provider === 'postgresql') {
    const columns = (await db.$queryRawUnsafe(
      `SELECT c.relname AS "table", a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND c.relname LIKE 'llm\\_%'
        ORDER BY c.relname, a.attnum`,
    )) as Array<{ table: string; name: string; type: string; not_null: boolean }>
    const indexes = (await db.$queryRawUnsafe(`SELECT indexname AS name, tablename AS "table" FROM pg_indexes WHERE schemaname = current_schema()`)) as Array<{
      name: string
      table: string
    }>
    return {
      columns: columns.map((c) => ({ table: c.table, name: c.name, type: c.type, notNull: c.not_null === true })),
      indexes: new Map(indexes.map((i) => [i.name, i.table])),
    }
  }
  const tables = (await db.$queryRawUnsafe(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'llm\\_%' ESCAPE '\\'`)) as Array<{
    name: string
  }>
  const columns: ActualColumn[] = []
  for (const { name: table } of tables) {
    const info = (await db.$queryRawUnsafe(`PRAGMA table_info("${table}")`)) as Array<{ name: string; type: string; notnull: unknown; pk: unknown }>
    for (const c of info) columns.push({ table, name: c.name, type: c.type, notNull: Number(c.notnull) === 1 })
  }
  const indexes = (await db.$queryRawUnsafe(`SELECT name, tbl_name AS "table" FROM sqlite_master WHERE type = 'index'`)) as Array<{
    name: string
    table: string
  }>
  return { columns, indexes: new Map(indexes.map((i) => [i.name, i.table])) }
}

/** How the database spells a DDL type (PostgreSQL's format_type; SQLite keeps the declared text). */
function normalType(provider: SqlProvider, type: string): string {
  if (provider === 'sqlite') return type.toUpperCase()
  const t = type.toLowerCase()
  const ts = /^timestamp(\(\d+\))?$/.exec(t)
  if (ts) return `timestamp${ts[1] ?? ''} without time zone`
  return t
}

const APPLY_DDL = 'apply the shipped DDL: `npx prisma-llm-tenant init` then `npx prisma migrate deploy` (or run prisma-llm-tenant/prisma/sql/<provider>.sql)'

/** The schema findings: one per difference, or one `ok` line. */
export function compareSchema(provider: SqlProvider, expected: ExpectedSchema, actual: { columns: ActualColumn[]; indexes: Map<string, string> }): Finding[] {
  const findings: Finding[] = []
  const byTable = new Map<string, ActualColumn[]>()
  for (const c of actual.columns) byTable.set(c.table, [...(byTable.get(c.table) ?? []), c])
  for (const [table, { columns }] of expected.tables) {
    const present = byTable.get(table)
    if (!present) {
      findings.push({ check: 'schema', ok: false, message: `table ${table} is missing`, fix: APPLY_DDL.replace('<provider>', provider) })
      continue
    }
    for (const column of columns) {
      const found = present.find((c) => c.name === column.name)
      if (!found) {
        findings.push({
          check: 'schema',
          ok: false,
          message: `column ${table}.${column.name} is missing`,
          fix: `ALTER TABLE "${table}" ADD COLUMN ${column.definition};`,
        })
      } else if (normalType(provider, found.type) !== normalType(provider, column.type)) {
        findings.push({
          check: 'schema',
          ok: false,
          message: `column ${table}.${column.name} is ${found.type}, the library expects ${column.type}`,
          fix: `change the column to ${column.type} in a migration (see prisma/sql/${provider}.sql)`,
        })
      } else if (found.notNull !== column.notNull) {
        findings.push({
          check: 'schema',
          ok: false,
          message: `column ${table}.${column.name} is ${found.notNull ? 'NOT NULL' : 'nullable'}, the library expects ${column.notNull ? 'NOT NULL' : 'nullable'}`,
          fix: `alter the column's nullability in a migration (see prisma/sql/${provider}.sql)`,
        })
      }
    }
  }
  for (const [name, { table, statement }] of expected.indexes) {
    if (!expected.tables.has(table) || !byTable.has(table)) continue // the missing table is the finding
    if (!actual.indexes.has(name)) findings.push({ check: 'index', ok: false, message: `index ${name} on ${table} is missing`, fix: `${statement};` })
  }
  for (const name of expected.obsolete) {
    if (actual.indexes.has(name)) {
      findings.push({
        check: 'index',
        ok: false,
        message: `obsolete index ${name} (replaced in a later version) still exists: it slows every insert`,
        fix: `DROP INDEX IF EXISTS "${name}";`,
      })
    }
  }
  if (findings.length === 0) {
    findings.push({ check: 'schema', ok: true, message: `schema matches the shipped DDL (${expected.tables.size} tables, ${expected.indexes.size} indexes)` })
  }
  return findings
}
