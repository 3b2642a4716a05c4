/**
 * `keys create|list|revoke|rotate`: tenant API keys through the library's store (src/keys), every
 * change audited as the CLI user.
 *
 * The raw secret of `create` and `rotate` is printed once, alone on stdout (so
 * `KEY=$(npx prisma-llm-tenant keys create …)` captures exactly it), with what it is on stderr; with
 * `--json` it is the `secret` field of the one result document. It is never in an error, a list or
 * any other output. Keys must be hashed as the app hashes them: the pepper comes from the environment
 * only (LLM_TENANT_API_KEY_PEPPER, or the variable `--pepper-env` names — never a flag value, which
 * shells and `ps` would show), the prefix from `--prefix`, LLM_TENANT_API_KEY_PREFIX, or the newest
 * key already in the table.
 */
import type { Command } from 'commander'
import type { LlmPrismaClient } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { createApiKeys, type LlmApiKeys } from '../keys/api-keys.js'
import { assertKeyPrefix } from '../keys/format.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import { action, asCliActor, dbOptions, type CliContext, configFrom, environment, parseGrace, parseId, parseInstant, type DbFlags } from './command.js'
import { withConnection } from './connect.js'
import { CliFailure, UsageError } from './errors.js'
import { renderFields, writeJson, writeRows, type Column, type Io } from './io.js'

interface KeyFlags extends DbFlags {
  prefix?: string
  pepperEnv?: string
}

function keyStatus(key: ApiKeyRecord, now: Date): string {
  if (key.replacedBy !== null) return key.revokedAt && key.revokedAt <= now ? 'rotated out' : 'rotated (grace)'
  if (key.revokedAt && key.revokedAt <= now) return 'revoked'
  if (key.expiresAt && key.expiresAt <= now) return 'expired'
  return 'active'
}

/** The key store, hashing as the app does (see the file comment). */
async function keyStore(client: LlmPrismaClient, options: KeyFlags, io: Io): Promise<{ keys: LlmApiKeys; warning?: string }> {
  const env = environment(options, io)
  const pepperVar = options.pepperEnv ?? 'LLM_TENANT_API_KEY_PEPPER'
  if (options.pepperEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.pepperEnv)) {
    throw new UsageError('--pepper-env', 'the name of an environment variable', options.pepperEnv)
  }
  const pepper = env[pepperVar] || null
  if (options.pepperEnv !== undefined && pepper === null)
    throw new UsageError('--pepper-env', `a variable that is set (${pepperVar} is not)`, options.pepperEnv)
  if (pepper !== null && pepper.length < 16) throw new UsageError(pepperVar, 'a pepper of at least 16 characters', '[a pepper]')
  let prefix = options.prefix ?? env.LLM_TENANT_API_KEY_PREFIX
  const prefixFlag = options.prefix !== undefined ? '--prefix' : 'LLM_TENANT_API_KEY_PREFIX'
  if (prefix === undefined) {
    const newest = (await client.llmApiKey.findFirst({ where: { replacedBy: null }, orderBy: [{ createdAt: 'desc' }], select: { start: true } })) as {
      start: string
    } | null
    prefix = newest ? newest.start.slice(0, -5) : 'sk'
  }
  try {
    assertKeyPrefix(prefix, prefixFlag)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(prefixFlag, err.allowed, prefix)
    throw err
  }
  const warning =
    pepper === null
      ? `no pepper set (${pepperVar}): the key is hashed with plain SHA-256 — if your app configures a pepper, set ${pepperVar} to it, or the key will not verify`
      : undefined
  return { keys: createApiKeys(client, { config: configFrom(options, io), prefix, pepper }), warning }
}

function keyOptions(command: Command): Command {
  return dbOptions(
    command
      .option('--prefix <prefix>', "your app's key prefix, e.g. sk_live (default: LLM_TENANT_API_KEY_PREFIX, else the newest key's, else sk)")
      .option('--pepper-env <name>', "the environment variable holding your app's pepper (default LLM_TENANT_API_KEY_PEPPER)"),
  )
}

const keyFields = (key: ApiKeyRecord, now: Date): Array<[string, unknown]> => [
  ['id', key.id],
  ['tenant', key.tenantId],
  ['name', key.name],
  ['start', `${key.start}…`],
  ['status', keyStatus(key, now)],
  ['created', key.createdAt],
  ['expires', key.expiresAt ?? 'never'],
]

export function registerKeys(program: Command, ctx: CliContext): void {
  const { io } = ctx
  const keys = program.command('keys').summary('Tenant API keys: create, list, revoke, rotate').description('Tenant API keys (docs/api-keys.md).')

  keyOptions(
    keys
      .command('create')
      .summary('Issue a key for a tenant; prints the secret once')
      .requiredOption('--tenant <tenantId>', 'the tenant the key belongs to')
      .requiredOption('--name <name>', 'what the key is for, e.g. production')
      .option('--expires-at <date>', 'when the key stops working (ISO-8601; default never)'),
  ).action(
    action<KeyFlags & { tenant: string; name: string; expiresAt?: string }>(ctx, async (options) => {
      const tenantId = parseId(options.tenant, '--tenant')
      const name = parseId(options.name, '--name', 100)
      const expiresAt = parseInstant(options.expiresAt, '--expires-at', new Date(), true)
      await withConnection(options, io, async ({ client }) => {
        const { keys: store, warning } = await keyStore(client, options, io)
        const { key, secret } = await asCliActor(() => store.createApiKey(tenantId, { name, ...(expiresAt ? { expiresAt } : {}) }))
        if (warning) io.stderr(`warning: ${warning}\n`)
        if (options.json) return writeJson(io, { key, secret })
        io.stdout(`${secret}\n`)
        io.stderr(`Created key ${key.id} (${key.name}, ${key.start}…) for tenant ${key.tenantId}. The secret above is shown once: store it now.\n`)
      })
    }),
  )

  keyOptions(
    keys
      .command('list')
      .summary("A tenant's keys (never a secret)")
      .requiredOption('--tenant <tenantId>', 'the tenant')
      .option('--include-rotated', 'also list rotated-out secrets (still in their grace period or retired)'),
  ).action(
    action<KeyFlags & { tenant: string; includeRotated?: boolean }>(ctx, async (options) => {
      const tenantId = parseId(options.tenant, '--tenant')
      await withConnection(options, io, async ({ client }) => {
        const { keys: store } = await keyStore(client, options, io)
        const list = await store.listApiKeys(tenantId, { includeRotated: options.includeRotated === true })
        const now = new Date()
        const columns: Column<ApiKeyRecord>[] = [
          { header: 'id', value: (k) => k.id },
          { header: 'name', value: (k) => k.name },
          { header: 'start', value: (k) => `${k.start}…` },
          { header: 'status', value: (k) => keyStatus(k, now) },
          { header: 'created', value: (k) => k.createdAt },
          { header: 'expires', value: (k) => k.expiresAt },
          { header: 'last_used', value: (k) => k.lastUsedAt },
        ]
        writeRows(io, options.json ? 'json' : 'table', list, columns, { tenantId, keys: list.map((k) => ({ ...k, status: keyStatus(k, now) })) })
      })
    }),
  )

  keyOptions(keys.command('revoke').summary('Revoke a key now (and any rotated-out secret of it)').argument('<keyId>', 'the key id (never its secret)')).action(
    action<KeyFlags>(ctx, async (options, [rawId]) => {
      const keyId = parseId(rawId, '<keyId>')
      await withConnection(options, io, async ({ client }) => {
        const { keys: store } = await keyStore(client, options, io)
        const key = await asCliActor(() => store.revokeApiKey(keyId))
        if (options.json) return writeJson(io, { key })
        io.stdout(renderFields(keyFields(key, new Date())))
      })
    }),
  )

  keyOptions(
    keys
      .command('rotate')
      .summary('Give a key a new secret (printed once); the old one works for --grace')
      .argument('<keyId>', 'the key id')
      .option('--grace <duration>', "how long the old secret keeps working: ms or '90s', '15m', '24h', '7d' (default 0, at most 30d)"),
  ).action(
    action<KeyFlags & { grace?: string }>(ctx, async (options, [rawId]) => {
      const keyId = parseId(rawId, '<keyId>')
      const gracePeriod = parseGrace(options.grace)
      await withConnection(options, io, async ({ client }) => {
        const { keys: store, warning } = await keyStore(client, options, io)
        const current = await store.getApiKey(keyId)
        if (current.replacedBy !== null) throw new CliFailure(`${keyId} is a rotated-out secret of key ${current.replacedBy}`, `rotate ${current.replacedBy}`)
        const rotated = await asCliActor(() => store.rotateApiKey(keyId, { gracePeriod }))
        if (warning) io.stderr(`warning: ${warning}\n`)
        if (options.json) return writeJson(io, rotated)
        io.stdout(`${rotated.secret}\n`)
        io.stderr(
          `Rotated key ${rotated.key.id} (${rotated.key.name}, now ${rotated.key.start}…); the previous secret works until ${rotated.previousSecretRetiresAt.toISOString()}. The secret above is shown once.\n`,
        )
      })
    }),
  )
}
