/**
 * The command as an app gets it: the tarball `npm pack` makes (dist/, bin/, the package's own Prisma
 * client in generated/cli/, the schema fragment and DDL), unpacked into an app's node_modules whose
 * other packages — @prisma/client, the SQLite adapter, the package's dependencies — are the app's
 * own (linked from this repository's node_modules; @prisma/adapter-pg deliberately left out). It
 * runs without the app's generated client and without `prisma generate`; a missing driver adapter
 * is a failure that names the package to install.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TenantStore } from '../../src/index.ts'
import { openDatabase, type TestDatabase } from '../support/databases.ts'
import { assertBuilt, cli, json, root } from './support.ts'

let app = ''
let db: TestDatabase
const installed = () => join(app, 'node_modules/prisma-llm-tenant/bin/prisma-llm-tenant.mjs')

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cli(args, { cwd: app, env, binPath: installed() })
}

beforeAll(async () => {
  assertBuilt()
  app = mkdtempSync(join(tmpdir(), 'llm-tenant-cli-app-'))
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: root, encoding: 'utf8' }),
  ) as Array<{
    filename: string
  }>
  const target = join(app, 'node_modules/prisma-llm-tenant')
  mkdirSync(target, { recursive: true })
  execFileSync('tar', ['-xzf', join(app, packed.filename), '-C', target, '--strip-components=1'])
  // The app's own packages: everything this repository has installed, but not @prisma/adapter-pg.
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry === '.bin' || entry === '@prisma' || entry === 'prisma-llm-tenant') continue
    symlinkSync(join(root, 'node_modules', entry), join(app, 'node_modules', entry))
  }
  mkdirSync(join(app, 'node_modules/@prisma'))
  for (const entry of readdirSync(join(root, 'node_modules/@prisma'))) {
    if (entry !== 'adapter-pg') symlinkSync(join(root, 'node_modules/@prisma', entry), join(app, 'node_modules/@prisma', entry))
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  db = await openDatabase('sqlite')
  await new TenantStore(db.client).upsert({ tenantId: 'acme', name: 'Acme' })
}, 60_000)

afterAll(async () => {
  await db?.close()
  if (app) rmSync(app, { recursive: true, force: true })
})

describe('prisma-llm-tenant from the packed package', () => {
  it('ships its own Prisma client and runs on the app’s @prisma/client and adapter', async () => {
    expect(readdirSync(join(app, 'node_modules/prisma-llm-tenant/generated/cli')).sort()).toEqual(['postgresql', 'sqlite'])
    const r = await run(['tenants', 'list', '--json'], { DATABASE_URL: `file:${db.location}` })
    expect(r.status, r.stderr).toBe(0)
    expect(json<{ tenants: Array<{ tenantId: string }> }>(r).tenants.map((t) => t.tenantId)).toEqual(['acme'])
  })

  it('init writes the shipped fragment and DDL into the app', async () => {
    mkdirSync(join(app, 'prisma/schema'), { recursive: true })
    writeFileSync(join(app, 'prisma/schema/main.prisma'), 'datasource db {\n  provider = "postgresql"\n}\n')
    const r = await run(['init'])
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(join(app, 'prisma/schema/llm-tenant.prisma'), 'utf8')).toBe(readFileSync(join(root, 'prisma/schema/llm-tenant.prisma'), 'utf8'))
    const [migration] = readdirSync(join(app, 'prisma/migrations')).filter((d) => d.endsWith('_llm_tenant'))
    expect(readFileSync(join(app, 'prisma/migrations', migration, 'migration.sql'), 'utf8')).toBe(readFileSync(join(root, 'prisma/sql/postgresql.sql'), 'utf8'))
  })

  it('a driver adapter the app has not installed: exit 1 with the package to install', async () => {
    const r = await run(['usage'], { DATABASE_URL: 'postgresql://app@127.0.0.1:5432/app' })
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      'prisma-llm-tenant usage: @prisma/adapter-pg is not installed in this project (the PostgreSQL driver adapter)\n  fix: npm install @prisma/adapter-pg@7\n',
    )
  })
})
