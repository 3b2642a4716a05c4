/**
 * Canary keys: a unique key per tenant (one stored in plain text in the host row, one encrypted at
 * rest) goes through successes, streams, tool calls, provider errors that echo the key, refusals
 * and credential-shaped metadata. Afterwards every ledger / hold / counter / tenant row, every
 * console line, every thrown error and every serialized result is searched: zero hits.
 */
import { inspect } from 'node:util'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase, type TestDatabase } from '../support/databases.ts'
import { decryptSecret, defineLlmConfig, encryptSecret, keyringFromEnv, llmTenant, SecretDecryptionError } from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const keyring = keyringFromEnv({ LLM_TENANT_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
const ORG_DDL = `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`

describe('encrypted provider keys', () => {
  it('round-trip for the right tenant; never for another tenant, a tampered value or another key', () => {
    const c = encryptSecret('sk-ant-secret-value', 'acme', keyring)
    expect(c).toMatch(/^v1\.k1\./)
    expect(c).not.toContain('secret-value')
    expect(decryptSecret(c, 'acme', keyring)).toBe('sk-ant-secret-value')
    expect(() => decryptSecret(c, 'globex', keyring)).toThrow(SecretDecryptionError)
    const parts = c.split('.')
    const ct = Buffer.from(parts[4], 'base64url')
    ct[0] ^= 0x01 // flip one bit of the ciphertext
    const tampered = [...parts.slice(0, 4), ct.toString('base64url')].join('.')
    expect(() => decryptSecret(tampered, 'acme', keyring)).toThrow(SecretDecryptionError)
    const other = keyringFromEnv({ LLM_TENANT_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
    expect(() => decryptSecret(c, 'acme', other)).toThrow(SecretDecryptionError)
    const rotated = keyringFromEnv({ LLM_TENANT_ENCRYPTION_KEYS: `k2:${randomBytes(32).toString('base64')},k1:${keyring.keys.get('k1')!.toString('base64')}` })
    expect(decryptSecret(c, 'acme', rotated)).toBe('sk-ant-secret-value')
    expect(encryptSecret('x', 'acme', rotated)).toMatch(/^v1\.k2\./)
    expect(() => keyringFromEnv({})).toThrow(/LLM_TENANT_ENCRYPTION_KEY/)
  })
})

describe.each(DATABASES)('canary keys never leak on %s', (kind) => {
  const db = useDatabase(kind)

  it('zero hits in rows, logs, errors and results', async () => {
    const canaries = { acme: `sk-CANARY-acme-${randomBytes(8).toString('hex')}`, globex: `CANARY-globex-${randomBytes(8).toString('hex')}` }
    const antCanary = `sk-ant-CANARY-${randomBytes(8).toString('hex')}`
    const sealed: Record<string, string> = { acme: encryptSecret(antCanary, 'acme', keyring) }
    await db().client.$executeRawUnsafe(kind === 'sqlite' ? ORG_DDL.replace('TIMESTAMP', 'DATETIME') : ORG_DDL)

    const logged: string[] = []
    const methods = ['log', 'info', 'warn', 'error', 'debug'] as const
    const saved = methods.map((m) => console[m])
    for (const m of methods) console[m] = (...args: unknown[]) => void logged.push(args.map((a) => inspect(a, { depth: 8 })).join(' '))
    const outputs: unknown[] = []
    const errors: unknown[] = []
    try {
      const prisma = db().client.$extends(
        llmTenant({
          model: 'organization',
          id: 'slug',
          name: 'displayName',
          budget: true,
          apiKeys: {
            openai: 'openaiApiKey',
            anthropic: (org: { slug: string }) => (sealed[org.slug] ? decryptSecret(sealed[org.slug], org.slug, keyring) : null),
          },
          providers: { openai: { baseURL: emulator.openaiBaseURL }, anthropic: { baseURL: emulator.anthropicBaseURL } },
          config: defineLlmConfig({}),
        }),
      )
      await prisma.organization.create({ data: { slug: 'acme', displayName: 'Acme', openaiApiKey: canaries.acme } })
      await prisma.organization.create({ data: { slug: 'globex', displayName: 'Globex', openaiApiKey: canaries.globex } })
      const chat = prisma.$llm.defineAgent({
        name: 'Canary',
        provider: 'openai',
        model: 'gpt-4o-mini',
        retries: 0,
        tools: [{ name: 'lookup', description: 'x', parameters: { type: 'object' }, run: () => 'found' }],
      })
      const claude = prisma.$llm.defineAgent({ name: 'CanaryClaude', provider: 'anthropic', model: 'claude-haiku-4-5', retries: 0 })

      const attempt = async (fn: () => Promise<unknown>) => {
        try {
          outputs.push(await fn())
        } catch (err) {
          errors.push(err)
        }
      }
      for (const tenant of ['acme', 'globex']) {
        await attempt(() => chat.run('hello', { tenant }))
        emulator.script('gpt-4o-mini', { kind: 'tool', name: 'lookup', arguments: { query: 'invoices' } })
        await attempt(() => chat.run('use the tool', { tenant }))
        emulator.script('gpt-4o-mini', { kind: 'error', status: 401 }) // echoes the key it was sent
        await attempt(() => chat.run('bad key', { tenant }))
        emulator.script('gpt-4o-mini', { kind: 'error', status: 500, message: `upstream saw key ${canaries[tenant as 'acme']}` })
        await attempt(() => chat.run('server error', { tenant }))
        const stream = chat.stream('stream it', { tenant })
        await attempt(async () => {
          for await (const d of stream) void d
          return stream.result
        })
      }
      await attempt(() => claude.run('hi', { tenant: 'acme' }))
      emulator.script('claude-haiku-4-5', { kind: 'error', status: 401 })
      await attempt(() => claude.run('bad', { tenant: 'acme' }))
      await attempt(() => claude.run('no key for globex', { tenant: 'globex' })) // MissingApiKeyError
      await prisma.organization.llmDeactivate('globex')
      await attempt(() => chat.run('inactive', { tenant: 'globex' }))
      await attempt(() =>
        prisma.$llm.ledger.recordExecution({
          tenantId: 'acme',
          agentType: 'X',
          model: 'm',
          metadata: { openaiApiKey: canaries.acme, headers: { authorization: `Bearer ${canaries.globex}` } },
        }),
      )
    } finally {
      methods.forEach((m, i) => (console[m] = saved[i]))
    }

    // The keys were really used (the emulator saw them)...
    expect(emulator.requests.some((r) => r.apiKey === canaries.acme)).toBe(true)
    expect(emulator.requests.some((r) => r.apiKey === canaries.globex)).toBe(true)
    expect(emulator.requests.some((r) => r.apiKey === antCanary)).toBe(true)
    expect(outputs.length).toBeGreaterThan(5)
    expect(errors.length).toBeGreaterThan(5)
    // ...and appear nowhere else.
    const haystacks: Array<[string, string]> = []
    for (const table of ['llm_executions', 'llm_budget_holds', 'llm_budget_counters', 'llm_tenants']) {
      haystacks.push([
        table,
        JSON.stringify(await (db() as TestDatabase).rawQuery(`SELECT * FROM ${table}`), (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
      ])
    }
    haystacks.push(['console', logged.join('\n')])
    errors.forEach((e, i) => haystacks.push([`error ${i}`, `${String(e)}\n${JSON.stringify(e)}\n${inspect(e, { depth: 10, showHidden: true })}`]))
    outputs.forEach((o, i) => haystacks.push([`result ${i}`, `${JSON.stringify(o)}\n${inspect(o, { depth: 10 })}`]))
    let searched = 0
    for (const canary of [...Object.values(canaries), antCanary]) {
      for (const [where, text] of haystacks) {
        searched++
        if (text.includes(canary) && process.env.DEBUG_CANARY)
          console.error(where, text.slice(Math.max(0, text.indexOf(canary) - 300), text.indexOf(canary) + 100))
        expect(text.includes(canary), `${where} contains a canary key`).toBe(false)
      }
    }
    expect(searched).toBeGreaterThanOrEqual(60)
  }, 60_000)
})
