/**
 * `prisma-llm-tenant init`: puts the library's models into the app's Prisma schema and its DDL into a
 * migration, then prints the next steps. Idempotent: a second run changes nothing. `--dry-run` prints
 * the diff of every file it would write, and writes none.
 *
 * - A multi-file schema (a folder): `llm-tenant.prisma` is copied into it (refused when another file
 *   of the folder already declares one of its models).
 * - A single `schema.prisma`: the models are merged into it (schema-merge.ts), never touching the
 *   generator or datasource blocks.
 * - The DDL for the schema's provider (prisma/sql/<provider>.sql, idempotent) becomes
 *   `<migrations>/<UTC timestamp>_llm_tenant/migration.sql`, so `prisma migrate deploy` applies it —
 *   unless the newest `*_llm_tenant` migration there already holds exactly that DDL.
 *
 * Where things are (nothing of the app is imported or run): `--schema`, else the `schema` of
 * prisma.config.ts (read as text) or package.json's `prisma.schema`, else prisma/schema/ or
 * prisma/schema.prisma or schema.prisma; migrations: `--migrations`, else prisma.config.ts's
 * `migrations.path`, else prisma/migrations.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { Option, type Command } from 'commander'
import type { SqlProvider } from '../db/client.js'
import { ddlPath, schemaFragmentPath } from '../db/schema.js'
import { action, jsonOption, type CliContext, PROVIDER_CHOICES } from './command.js'
import { CliFailure, UsageError } from './errors.js'
import { rlsStatements } from '../db/rls.js'
import { unifiedDiff, writeJson, type Io } from './io.js'

type SchemaMerge = Pick<typeof import('./schema-merge.js'), 'datasourceProvider' | 'mergeModels' | 'modelNames'>

interface InitOptions {
  schema?: string
  migrations?: string
  provider?: SqlProvider
  dryRun?: boolean
  json?: boolean
  rls?: boolean
  serviceRole?: string
}

interface FileChange {
  path: string
  before: string | null
  after: string
}

const FRAGMENT_FILE = 'llm-tenant.prisma'

function readIfExists(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null
}

/** A path named in prisma.config.(ts|mts|js|mjs) — read as text, never run. */
function fromPrismaConfig(cwd: string, key: 'schema' | 'path'): string | undefined {
  for (const name of ['prisma.config.ts', 'prisma.config.mts', 'prisma.config.js', 'prisma.config.mjs']) {
    const text = readIfExists(join(cwd, name))
    if (text === null) continue
    const match = key === 'schema' ? /\bschema\s*:\s*['"`]([^'"`]+)['"`]/.exec(text) : /\bmigrations\s*:\s*\{[^}]*?\bpath\s*:\s*['"`]([^'"`]+)['"`]/s.exec(text)
    if (match) return match[1]
  }
  return undefined
}

/** The app's schema: a folder of .prisma files or one file. */
function locateSchema(cwd: string, flag: string | undefined): { path: string; folder: boolean } {
  if (flag !== undefined) {
    const path = resolve(cwd, flag)
    if (!existsSync(path)) throw new UsageError('--schema', 'an existing schema file or folder', flag)
    return { path, folder: statSync(path).isDirectory() }
  }
  const pkg = readIfExists(join(cwd, 'package.json'))
  const fromPackage = pkg ? (JSON.parse(pkg) as { prisma?: { schema?: string } }).prisma?.schema : undefined
  const candidates = [fromPrismaConfig(cwd, 'schema'), fromPackage, 'prisma/schema', 'prisma/schema.prisma', 'schema.prisma']
  for (const candidate of candidates) {
    if (candidate === undefined) continue
    const path = resolve(cwd, candidate)
    if (existsSync(path)) return { path, folder: statSync(path).isDirectory() }
  }
  throw new CliFailure(
    'no Prisma schema found (looked for prisma/schema/, prisma/schema.prisma, schema.prisma)',
    'pass --schema <file or folder>, or run `npx prisma init` first',
  )
}

function prismaFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.prisma'))
    .map((f) => join(folder, f))
}

/** The provider: the schema's datasource, `--provider`, or DATABASE_URL's scheme — which must agree. */
function providerOf(merge: SchemaMerge, files: string[], cwd: string, flag: SqlProvider | undefined, io: Io): SqlProvider {
  let declared: string | undefined
  for (const file of files) declared ??= merge.datasourceProvider(readFileSync(file, 'utf8'), relative(cwd, file))
  const normalized = declared === 'postgres' ? 'postgresql' : declared
  if (normalized !== undefined && !(PROVIDER_CHOICES as readonly string[]).includes(normalized)) {
    throw new CliFailure(`the schema's datasource provider is "${declared}"; prisma-llm-tenant supports sqlite and postgresql`)
  }
  if (normalized !== undefined && flag !== undefined && flag !== normalized)
    throw new UsageError('--provider', `${normalized} (the schema's datasource provider)`, flag)
  const url = io.env.DATABASE_URL ?? ''
  const fromUrl = url.startsWith('file:') ? 'sqlite' : /^postgres(ql)?:/.test(url) ? 'postgresql' : undefined
  const provider = (normalized ?? flag ?? fromUrl) as SqlProvider | undefined
  if (provider === undefined) throw new UsageError('--provider', 'sqlite or postgresql (the schema declares no datasource provider)')
  return provider
}

/** The schema change: a copied fragment (folder) or the merged file. */
function schemaChange(
  merge: SchemaMerge,
  schema: { path: string; folder: boolean },
  cwd: string,
): FileChange & { models: { added: string[]; replaced: string[] } } {
  const fragment = readFileSync(schemaFragmentPath, 'utf8')
  const ours = merge.modelNames(fragment, FRAGMENT_FILE)
  if (schema.folder) {
    const target = join(schema.path, FRAGMENT_FILE)
    for (const file of prismaFiles(schema.path).filter((f) => f !== target)) {
      const clash = merge.modelNames(readFileSync(file, 'utf8'), relative(cwd, file)).filter((m) => ours.includes(m))
      if (clash.length > 0) {
        throw new CliFailure(
          `${relative(cwd, file)} already declares ${clash.join(', ')}: copying ${FRAGMENT_FILE} would declare them twice; nothing was written`,
          `remove those models from ${relative(cwd, file)} (llm-tenant.prisma has them all), then run init again`,
        )
      }
    }
    const before = readIfExists(target)
    return {
      path: target,
      before,
      after: fragment,
      models: { added: before === null ? ours : [], replaced: before !== null && before !== fragment ? ours : [] },
    }
  }
  const before = readFileSync(schema.path, 'utf8')
  const merged = merge.mergeModels(before, fragment, relative(cwd, schema.path))
  return { path: schema.path, before, after: merged.text, models: { added: merged.added, replaced: merged.replaced } }
}

/** The migration to write, or null when the newest `*_llm_tenant` migration is already this DDL. */
function migrationChanges(dir: string, provider: SqlProvider, now: Date): FileChange[] {
  const ddl = readFileSync(ddlPath(provider), 'utf8')
  const ours = existsSync(dir)
    ? readdirSync(dir)
        .filter((d) => /^\d{14}_llm_tenant$/.test(d))
        .sort()
    : []
  const latest = ours.at(-1)
  if (latest !== undefined && readIfExists(join(dir, latest, 'migration.sql')) === ddl) return []
  const lockPath = join(dir, 'migration_lock.toml')
  const lock = readIfExists(lockPath)
  const locked = lock === null ? undefined : /provider\s*=\s*"([^"]+)"/.exec(lock)?.[1]
  if (locked !== undefined && locked !== provider && !(locked === 'postgres' && provider === 'postgresql')) {
    throw new CliFailure(`${lockPath} is locked to provider "${locked}", the schema uses ${provider}; nothing was written`)
  }
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14)
  const changes: FileChange[] = [{ path: join(dir, `${stamp}_llm_tenant`, 'migration.sql'), before: null, after: ddl }]
  if (lock === null) {
    const text = `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${provider}"\n`
    changes.push({ path: lockPath, before: null, after: text })
  }
  return changes
}

/**
 * `--rls` (PostgreSQL): the row-level security policies as a migration of their own, ordered after
 * the tables' — unless the newest `*_llm_tenant_rls` migration already holds exactly them.
 */
function rlsMigrationChanges(dir: string, provider: SqlProvider, serviceRole: string | undefined, now: Date): FileChange[] {
  if (provider !== 'postgresql') throw new UsageError('--rls', 'a PostgreSQL schema (row-level security is PostgreSQL only; SQLite has none)', provider)
  const sql = `${rlsStatements({ serviceRole }).join(';\n\n')};\n`
  const ours = existsSync(dir)
    ? readdirSync(dir)
        .filter((d) => /^\d{14}_llm_tenant_rls$/.test(d))
        .sort()
    : []
  const latest = ours.at(-1)
  if (latest !== undefined && readIfExists(join(dir, latest, 'migration.sql')) === sql) return []
  // One second after the tables' migration stamp, so `prisma migrate deploy` applies it second.
  const stamp = new Date(now.getTime() + 1000).toISOString().replace(/\D/g, '').slice(0, 14)
  return [{ path: join(dir, `${stamp}_llm_tenant_rls`, 'migration.sql'), before: null, after: sql }]
}

function nextSteps(schema: { path: string; folder: boolean }, cwd: string, migrations: string): string {
  const schemaArg = relative(cwd, schema.path) || '.'
  return [
    'Next steps:',
    `  1. npx prisma-llm-tenant generate --schema ${schemaArg}   # regenerate your client with the LLM tenant models`,
    `  2. npx prisma migrate deploy   # applies ${relative(cwd, migrations) || '.'}/…_llm_tenant (or apply prisma-llm-tenant/prisma/sql/*.sql yourself)`,
    '  3. npx prisma-llm-tenant doctor   # checks the tables, indexes and database settings',
    '',
  ].join('\n')
}

export function registerInit(program: Command, ctx: CliContext): void {
  const command = program
    .command('init')
    .summary('Add the LLM tenant models to your Prisma schema and their DDL as a migration')
    .description(
      'Copies llm-tenant.prisma into a schema folder, or merges its models into a single schema.prisma\n(generator and datasource blocks untouched), and writes the DDL as <migrations>/<timestamp>_llm_tenant/migration.sql.\nIdempotent: a second run changes nothing.',
    )
    .option('--schema <path>', 'your schema file or folder (default: prisma.config.ts, package.json, prisma/schema/, prisma/schema.prisma)')
    .option('--migrations <dir>', 'your migrations folder (default: prisma.config.ts migrations.path, else prisma/migrations)')
    .addOption(new Option('--provider <provider>', "the database provider when the schema's datasource does not say").choices(PROVIDER_CHOICES))
    .option('--dry-run', 'print the diff of every file it would write; write nothing')
    .option('--rls', 'PostgreSQL: also write the row-level security policies as a migration (docs/row-level-security.md)')
    .option('--service-role <role>', "with --rls: the role the library's cross-tenant work connects as (default llm_tenant_service)")
  jsonOption(command).action(
    action<InitOptions>(ctx, async (options) => {
      const { io } = ctx
      // The schema parser is loaded only here: it costs more start-up time than every other command needs.
      const { datasourceProvider, mergeModels, modelNames } = await import('./schema-merge.js')
      const merge: SchemaMerge = { datasourceProvider, mergeModels, modelNames }
      const schema = locateSchema(io.cwd, options.schema)
      const files = schema.folder ? prismaFiles(schema.path) : [schema.path]
      const provider = providerOf(merge, files, io.cwd, options.provider, io)
      const migrations = resolve(io.cwd, options.migrations ?? fromPrismaConfig(io.cwd, 'path') ?? 'prisma/migrations')
      const schemaEdit = schemaChange(merge, schema, io.cwd)
      if (options.serviceRole !== undefined && !options.rls) throw new UsageError('--service-role', 'only together with --rls', options.serviceRole)
      const now = new Date()
      const rls = options.rls ? rlsMigrationChanges(migrations, provider, options.serviceRole, now) : []
      const changes = [schemaEdit, ...migrationChanges(migrations, provider, now), ...rls].filter((c) => c.before !== c.after)
      const rel = (p: string) => relative(io.cwd, p)
      if (!options.dryRun) {
        for (const change of changes) {
          mkdirSync(dirname(change.path), { recursive: true })
          writeFileSync(change.path, change.after)
        }
      }
      const summary = {
        dryRun: options.dryRun === true,
        provider,
        schema: {
          path: rel(schema.path),
          kind: schema.folder ? 'folder' : 'file',
          modelsAdded: schemaEdit.models.added,
          modelsReplaced: schemaEdit.models.replaced,
        },
        changes: changes.map((c) => ({
          path: rel(c.path),
          action: c.before === null ? 'create' : 'update',
          ...(options.dryRun ? { diff: unifiedDiff(rel(c.path), c.before, c.after) } : {}),
        })),
      }
      if (options.json) {
        writeJson(io, summary)
        return
      }
      if (options.dryRun) {
        for (const change of changes) io.stdout(unifiedDiff(rel(change.path), change.before, change.after))
        io.stdout(
          changes.length === 0
            ? 'Nothing to change: the schema and the migration are up to date.\n'
            : `(dry run: ${changes.length} file(s) would be written; nothing was)\n`,
        )
        return
      }
      if (changes.length === 0) io.stdout('Nothing to change: the schema and the migration are up to date.\n')
      for (const change of changes) io.stdout(`${change.before === null ? 'created' : 'updated'} ${rel(change.path)}\n`)
      io.stdout(`\n${nextSteps(schema, io.cwd, migrations)}`)
    }),
  )
}
