/**
 * The shipped row-level security on PostgreSQL, checked as a plain role (no superuser, no
 * BYPASSRLS, not the tables' owner): in every table the policies cover, tenant A sees none of B's
 * rows, cannot insert, update or delete rows of B, and with no tenant set sees nothing at all; the
 * service role (the library's own connection) sees every row; the setting does not outlive its
 * transaction. Every tenant-owned table is covered — a new table with a tenant column fails here
 * until the policies include it.
 */
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import { rlsStatements, rlsTables, TenantScopeMismatchError, withTenantDb } from '../../src/db/rls.ts'
import { createSessionStore } from '../../src/sessions/index.ts'
import { POSTGRES_URL } from '../support/databases.ts'
import { useRlsDatabase, type RlsDatabase } from '../support/rls.ts'

const CATALOG = ['llm_plans', 'llm_agent_templates'] // the app's catalog: no tenant, no policy
const SCOPED = ['llm_budget_counters', 'llm_rate_limits'] // tenant_id '' (global) or a key id (api_key scope)
const SERVICE_ONLY = ['llm_usage_days'] // sums over every tenant: forced RLS, the service role's policy only
const A = 'tenant-a'
const B = 'tenant-b'

interface Column {
  name: string
  type: string
  notNull: boolean
  hasDefault: boolean
}

async function columnsOf(db: RlsDatabase, table: string): Promise<Column[]> {
  const rows = await db.db.rawQuery<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    'SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [db.db.location, table],
  )
  return rows.map((r) => ({ name: r.column_name, type: r.data_type, notNull: r.is_nullable === 'NO', hasDefault: r.column_default !== null }))
}

/** A row of `table` for `tenant` (every column given a value of its type), with `overrides`. */
function rowFor(columns: Column[], table: string, tenant: string, n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  for (const c of columns) {
    if (c.name in overrides) row[c.name] = overrides[c.name]
    else if (c.name === 'tenant_id') row[c.name] = tenant
    else if (c.type === 'text') row[c.name] = `${table}.${c.name}.${tenant}.${n}.${randomUUID().slice(0, 8)}`
    else if (c.type === 'integer' || c.type === 'bigint') row[c.name] = n
    else if (c.type === 'boolean') row[c.name] = true
    else if (c.type.startsWith('timestamp')) row[c.name] = new Date()
    else if (c.type === 'jsonb') row[c.name] = JSON.stringify({ n })
    else if (c.notNull && !c.hasDefault) throw new Error(`no value for ${table}.${c.name} (${c.type})`)
  }
  return row
}

async function insert(c: pg.Client | RlsDatabase, table: string, row: Record<string, unknown>): Promise<void> {
  const names = Object.keys(row)
  const sql = `INSERT INTO "${table}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`
  if ('db' in c) await c.db.rawQuery(sql, Object.values(row))
  else await c.query(sql, Object.values(row))
}

/** Runs `fn` as the app role in a transaction scoped to `tenant` (or none), rolled back after. */
async function asTenant<T>(db: RlsDatabase, tenant: string | null, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return db.asRole('app', async (c) => {
    await c.query('BEGIN')
    try {
      if (tenant !== null) await c.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant])
      return await fn(c)
    } finally {
      await c.query('ROLLBACK')
    }
  })
}

const count = async (c: pg.Client, sql: string, params: unknown[] = []) => Number((await c.query(sql, params)).rows[0].n)

describe.skipIf(!POSTGRES_URL)('row-level security on PostgreSQL (a plain role, not the owner)', () => {
  const rls = useRlsDatabase()
  const columns = new Map<string, Column[]>()
  /** Rows of each tenant per table, as seeded (the expected counts). */
  const seeded = new Map<string, Record<string, number>>()
  const keyIds: Record<string, string> = {}
  const invoiceIds: Record<string, string[]> = { [A]: [], [B]: [] }

  const seed = async () => {
    const db = rls()
    for (const table of rlsTables()) columns.set(table, await columnsOf(db, table))
    const add = (table: string, tenant: string) => {
      const counts = seeded.get(table) ?? {}
      counts[tenant] = (counts[tenant] ?? 0) + 1
      seeded.set(table, counts)
    }
    for (const tenant of [A, B]) {
      const keyId = `key-of-${tenant}`
      keyIds[tenant] = keyId
      await insert(db, 'llm_api_keys', rowFor(columns.get('llm_api_keys')!, 'llm_api_keys', tenant, 0, { id: keyId }))
      add('llm_api_keys', tenant)
      for (const table of rlsTables()) {
        if (table === 'llm_api_keys') continue
        const n = table === 'llm_tenants' ? 1 : 2 // llm_tenants.tenant_id is unique
        for (let i = 0; i < n; i++) {
          const cols = columns.get(table)!
          if (table === 'llm_invoice_lines') {
            await insert(db, table, rowFor(cols, table, tenant, i, { invoice_id: invoiceIds[tenant][i], position: i }))
          } else if (SCOPED.includes(table)) {
            await insert(db, table, rowFor(cols, table, tenant, i, { scope: i === 0 ? 'tenant' : 'tenant_agent' }))
          } else {
            const row = rowFor(cols, table, tenant, i)
            if (table === 'llm_invoices') invoiceIds[tenant].push(row.id as string)
            await insert(db, table, row)
          }
          add(table, tenant)
        }
      }
      for (const table of SCOPED) {
        // The tenant's key's rows (api_key scope: tenant_id = the key id) are the tenant's too.
        await insert(db, table, rowFor(columns.get(table)!, table, keyId, 9, { scope: 'api_key' }))
        add(table, tenant)
      }
    }
    // Rows of no tenant: global counters and windows (''), calls and events without a tenant (NULL).
    for (const table of SCOPED) await insert(db, table, rowFor(columns.get(table)!, table, '', 7, { scope: 'global' }))
    for (const table of ['llm_executions', 'llm_audit_events', 'llm_budget_holds'])
      await insert(db, table, rowFor(columns.get(table)!, table, '', 8, { tenant_id: null }))
  }

  beforeAll(seed)

  const visibleOf = (table: string, tenant: string) =>
    table === 'llm_invoice_lines'
      ? [`SELECT COUNT(*) AS n FROM "${table}" WHERE "invoice_id" = ANY($1)`, [invoiceIds[tenant]]]
      : SCOPED.includes(table)
        ? [`SELECT COUNT(*) AS n FROM "${table}" WHERE "tenant_id" = $1 OR "tenant_id" = $2`, [tenant, keyIds[tenant]]]
        : [`SELECT COUNT(*) AS n FROM "${table}" WHERE "tenant_id" = $1`, [tenant]]

  it('covers every table with a tenant (or belonging to one): ENABLE + FORCE and the two policies', async () => {
    const db = rls()
    const tables = await db.db.rawQuery<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
      [db.db.location],
    )
    const names = tables.map((t) => t.relname)
    expect(names.filter((t) => !CATALOG.includes(t) && !SERVICE_ONLY.includes(t)).sort()).toEqual([...rlsTables()].sort())
    for (const t of tables) {
      const covered = !CATALOG.includes(t.relname)
      expect({ table: t.relname, rls: t.relrowsecurity, force: t.relforcerowsecurity }).toEqual({ table: t.relname, rls: covered, force: covered })
    }
    const policies = await db.db.rawQuery<{ tablename: string; policyname: string; roles: string[] | string }>(
      'SELECT tablename, policyname, roles::text[] AS roles FROM pg_policies WHERE schemaname = $1',
      [db.db.location],
    )
    for (const table of rlsTables()) {
      const own = policies.filter((p) => p.tablename === table).map((p) => p.policyname)
      expect(own.sort(), table).toEqual(['llm_service_access', 'llm_tenant_isolation'])
    }
    for (const table of SERVICE_ONLY) expect(policies.filter((p) => p.tablename === table).map((p) => p.policyname)).toEqual(['llm_service_access'])
    // A table that holds a tenant id but is not covered would be listed here.
    const withTenant = await db.db.rawQuery<{ table_name: string }>(
      `SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = $1 AND column_name IN ('tenant_id', 'invoice_id')`,
      [db.db.location],
    )
    expect(withTenant.map((r) => r.table_name).filter((t) => !rlsTables().includes(t))).toEqual([])
  })

  it('the test roles are plain: no superuser, no BYPASSRLS, owner of nothing', async () => {
    const db = rls()
    const roles = await db.db.rawQuery<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY($1)',
      [[db.roles.app, db.roles.service]],
    )
    expect(roles).toHaveLength(2)
    for (const r of roles) expect(r).toMatchObject({ rolsuper: false, rolbypassrls: false })
    const owned = await db.db.rawQuery<{ n: string }>(`SELECT COUNT(*) AS n FROM pg_tables WHERE schemaname = $1 AND tableowner = ANY($2)`, [
      db.db.location,
      [db.roles.app, db.roles.service, db.roles.group],
    ])
    expect(Number(owned[0].n)).toBe(0)
    // The app role cannot take the service role's bypass for itself.
    await expect(db.asRole('app', (c) => c.query(`SET ROLE "${db.roles.group}"`))).rejects.toMatchObject({ code: '42501' })
  })

  it("tenant A sees exactly its own rows and 0 of B's in every table", async () => {
    const db = rls()
    for (const [tenant, other] of [
      [A, B],
      [B, A],
    ]) {
      await asTenant(db, tenant, async (c) => {
        for (const table of rlsTables()) {
          const all = await count(c, `SELECT COUNT(*) AS n FROM "${table}"`)
          expect({ table, all }).toEqual({ table, all: seeded.get(table)![tenant] })
          const [sql, params] = visibleOf(table, other) as [string, unknown[]]
          expect({ table, others: await count(c, sql, params) }).toEqual({ table, others: 0 })
        }
      })
    }
  })

  it('a table summed over every tenant is the service role’s only: a tenant session sees and deletes none of it', async () => {
    const db = rls()
    await db.db.rawQuery(
      `INSERT INTO llm_usage_days (time_zone, day, agent_type, model, status, day_start_ms, day_end_ms) VALUES ('UTC', '2020-01-01', '', '', '*', 0, 86400000)`,
    )
    await asTenant(db, A, async (c) => {
      expect(await count(c, 'SELECT COUNT(*) AS n FROM "llm_usage_days"')).toBe(0)
      expect((await c.query('DELETE FROM "llm_usage_days"')).rowCount).toBe(0)
    })
    await db.asRole('service', async (c) => expect(await count(c, 'SELECT COUNT(*) AS n FROM "llm_usage_days"')).toBe(1))
    await db.db.rawQuery('DELETE FROM llm_usage_days')
  })

  it('with no tenant set (or an empty one) the app role sees nothing at all', async () => {
    const db = rls()
    for (const tenant of [null, '']) {
      await asTenant(db, tenant, async (c) => {
        for (const table of rlsTables()) expect({ table, n: await count(c, `SELECT COUNT(*) AS n FROM "${table}"`) }).toEqual({ table, n: 0 })
      })
    }
  })

  it("tenant A cannot insert rows for B, nor update or delete B's, nor move its own rows to B", async () => {
    const db = rls()
    for (const table of rlsTables()) {
      const cols = columns.get(table)!
      const forB =
        table === 'llm_invoice_lines'
          ? rowFor(cols, table, B, 50, { invoice_id: invoiceIds[B][0], position: 50 })
          : rowFor(cols, table, B, 50, SCOPED.includes(table) ? { scope: 'tenant' } : {})
      await expect(
        asTenant(db, A, (c) => insert(c, table, forB)),
        table,
      ).rejects.toMatchObject({ code: '42501' })
      const [whereB, paramsB] = table === 'llm_invoice_lines' ? ['"invoice_id" = ANY($1)', [invoiceIds[B]]] : ['"tenant_id" = ANY($1)', [[B, keyIds[B]]]]
      await asTenant(db, A, async (c) => {
        const target = table === 'llm_invoice_lines' ? '"position" = "position" + 100' : '"tenant_id" = "tenant_id"'
        expect((await c.query(`UPDATE "${table}" SET ${target} WHERE ${whereB}`, paramsB)).rowCount, table).toBe(0)
        expect((await c.query(`DELETE FROM "${table}" WHERE ${whereB}`, paramsB)).rowCount, table).toBe(0)
      })
      const move = table === 'llm_invoice_lines' ? ['"invoice_id" = $1', [invoiceIds[B][0]]] : ['"tenant_id" = $1', [B]]
      await expect(
        asTenant(db, A, (c) => c.query(`UPDATE "${table}" SET ${move[0]}`, move[1] as unknown[])),
        table,
      ).rejects.toMatchObject({ code: '42501' })
    }
    // Nothing of B changed.
    for (const table of rlsTables()) {
      const [sql, params] = visibleOf(table, B) as [string, unknown[]]
      const [row] = await db.db.rawQuery<{ n: string }>(sql, params)
      expect({ table, n: Number(row.n) }).toEqual({ table, n: seeded.get(table)![B] })
    }
  })

  it('the service role (the library’s connection) sees every row of every tenant', async () => {
    const db = rls()
    await db.asRole('service', async (c) => {
      for (const table of rlsTables()) {
        const [row] = await db.db.rawQuery<{ n: string }>(`SELECT COUNT(*) AS n FROM "${table}"`)
        expect({ table, n: await count(c, `SELECT COUNT(*) AS n FROM "${table}"`) }).toEqual({ table, n: Number(row.n) })
      }
    })
  })

  it('withTenantDb: one transaction as the tenant; the setting ends with it; another tenant in it is refused', async () => {
    const db = rls()
    const rows = await withTenantDb(db.app, A, (tx) => tx.llmExecution.findMany())
    expect(rows.map((r) => r.tenantId)).toEqual([A, A])
    expect(await withTenantDb(db.app, B, (tx) => tx.llmAuditEvent.count())).toBe(seeded.get('llm_audit_events')![B])
    // Outside it, the same pool's connections carry no tenant: nothing is visible.
    for (let i = 0; i < 8; i++) expect(await db.app.llmExecution.count()).toBe(0)
    // Nested: the same tenant runs in the caller's transaction; another one is refused.
    await withTenantDb(db.app, A, async (tx) => {
      expect(await withTenantDb(tx, A, (inner) => inner.llmApiKey.count())).toBe(1)
      await expect(withTenantDb(tx, B, (inner) => inner.llmApiKey.count())).rejects.toBeInstanceOf(TenantScopeMismatchError)
    })
    // A write through it passes the policy for its own tenant only.
    await withTenantDb(db.app, A, (tx) => tx.llmTenant.updateMany({ where: {}, data: { name: 'renamed by A' } }))
    const names = await db.db.rawQuery<{ tenant_id: string; name: string }>('SELECT tenant_id, name FROM llm_tenants ORDER BY tenant_id')
    expect(names.map((r) => [r.tenant_id, r.name === 'renamed by A'])).toEqual([
      [A, true],
      [B, false],
    ])
    await expect(withTenantDb(db.app, '', async () => 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    // The library's own tenant-scoped work joins the caller's transaction, and cannot rescope it.
    await withTenantDb(db.app, A, async (tx) => {
      const store = createSessionStore(tx)
      await store.session(A, 'in-your-tx').addItems([{ role: 'user', content: 'hi' }])
      expect(await store.session(A, 'in-your-tx').getItems()).toHaveLength(1)
      await expect(store.session(B, 'in-your-tx').getItems()).rejects.toBeInstanceOf(TenantScopeMismatchError)
    })
  })

  it('the script is idempotent and takes another service role name', async () => {
    const db = rls()
    for (const statement of rlsStatements({ serviceRole: db.roles.group })) await db.db.client.$executeRawUnsafe(statement)
    expect(rlsStatements({ serviceRole: 'my_service' }).join('\n')).not.toContain('llm_tenant_service')
    expect(() => rlsStatements({ serviceRole: 'Robert"; DROP TABLE x; --' })).toThrow(/serviceRole/)
  })
})
