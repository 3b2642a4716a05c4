/**
 * Canary keys, beyond test/agents/canary.test.ts: distinct per-tenant keys (OpenAI in the host row,
 * Anthropic encrypted at rest, one key that is not even key-shaped) go through successes on every API
 * (chat, responses, messages), streams, tool calls, provider 401/500s echoing the key, cut streams,
 * budget refusals, soft-limit events, a hold that expires mid-call and settles late, settles that fail
 * (the database rejects them with the row in the message), and fail-closed / fail-open admission
 * errors (the database, or the app's own resolvers, failing with the key in their message).
 * Everything observable is captured — console and raw stdout/stderr (with the SDKs' debug logging
 * switched on in the environment), every budget and settle_failed event, every thrown error
 * (String, JSON, inspect at unlimited depth, stack, cause chain), every serialized result, and every
 * llm_* table at three points — and searched for each key and each key's last 8 and 12 characters.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { captureOutput, dumpLibraryTables, render, renderError, scanForSecrets, type Haystack } from '../support/leak-scan.ts'
import {
  AdmissionError,
  BudgetExceededError,
  SecretDecryptionError,
  TenantStore,
  createLlmRuntime,
  decryptSecret,
  defineLlmConfig,
  encryptSecret,
  keyringFromEnv,
  llmTenant,
  type AgentTool,
  type LlmConfigInput,
  type RuntimeOptions,
} from '../../src/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = new ProviderEmulator()
beforeAll(async () => void (await emulator.start()))
afterAll(async () => emulator.close())

const keyring = keyringFromEnv({ LLM_TENANT_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
const rnd = () => randomBytes(18).toString('base64url')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ORG_DDL = `CREATE TABLE IF NOT EXISTS "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`

describe('keys encrypted at rest are bound to their tenant', () => {
  it("tenant A's ciphertext never decrypts as tenant B (nor as a look-alike id)", () => {
    const secret = `sk-canary-acme-${rnd()}`
    const sealed = encryptSecret(secret, 'acme', keyring)
    expect(decryptSecret(sealed, 'acme', keyring)).toBe(secret)
    for (const other of ['globex', 'ACME', 'acme ', ' acme', 'acm', 'acme\0', 'acmé']) {
      let err: unknown
      try {
        decryptSecret(sealed, other, keyring)
      } catch (e) {
        err = e
      }
      expect(err, `decrypted as ${JSON.stringify(other)}`).toBeInstanceOf(SecretDecryptionError)
      expect(scanForSecrets([secret], [['error', renderError(err)]]).hits).toEqual([])
    }
    // Re-encrypting for tenant B does not make A's ciphertext valid for B either.
    expect(() => decryptSecret(sealed, 'globex', keyring)).toThrow(SecretDecryptionError)
    expect(decryptSecret(encryptSecret(secret, 'globex', keyring), 'globex', keyring)).toBe(secret)
  })
})

describe.each(DATABASES)('canary keys never leak on %s', (kind) => {
  const db = useDatabase(kind)
  const sql = (s: string) => db().rawQuery(s)

  it('holds, events, counters, expiry, settle failures, admission failures, inspect output: zero hits', async () => {
    const K = {
      acme: { openai: `sk-canary-acme-${rnd()}`, anthropic: `sk-ant-canary-acme-${rnd()}` },
      globex: { openai: `sk-canary-globex-${rnd()}`, anthropic: `sk-ant-canary-globex-${rnd()}` },
      initech: { openai: `canary-initech-${rnd()}` }, // not key-shaped: only exact scrubbing catches it
    } as Record<string, { openai: string; anthropic?: string }>
    const canaries = Object.values(K).flatMap((k) => Object.values(k)) as string[]
    const sealed: Record<string, string> = {
      acme: encryptSecret(K.acme.anthropic!, 'acme', keyring),
      globex: encryptSecret(K.globex.anthropic!, 'globex', keyring),
    }
    sealed.umbrella = sealed.acme // a ciphertext copied to another tenant's row

    await db().client.$executeRawUnsafe(kind === 'sqlite' ? ORG_DDL.replace('TIMESTAMP', 'DATETIME') : ORG_DDL)
    // Fault injection: settles of agent SecretSettle and holds of agent SecretAdmit are rejected by the
    // database, with the row's contents in the error message (as a constraint or trigger might).
    if (kind === 'postgresql') {
      await sql(
        `CREATE FUNCTION reject_row() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'rejected by %: %', TG_NAME, row_to_json(NEW); END $$ LANGUAGE plpgsql`,
      )
      await sql(
        `CREATE TRIGGER settle_rejected BEFORE UPDATE ON llm_executions FOR EACH ROW WHEN (OLD.agent_type = 'SecretSettle' AND OLD.status = 'running' AND NEW.status <> 'timeout') EXECUTE FUNCTION reject_row()`,
      )
      await sql(
        `CREATE TRIGGER admit_rejected BEFORE INSERT ON llm_budget_holds FOR EACH ROW WHEN (NEW.agent_type = 'SecretAdmit') EXECUTE FUNCTION reject_row()`,
      )
    } else {
      await sql(`CREATE TRIGGER settle_rejected BEFORE UPDATE ON llm_executions WHEN OLD.agent_type = 'SecretSettle' AND OLD.status = 'running' AND NEW.status <> 'timeout'
        BEGIN SELECT RAISE(ABORT, 'rejected: ' || COALESCE(NEW.error_message, '') || ' ' || COALESCE(NEW.metadata, '')); END`)
      await sql(`CREATE TRIGGER admit_rejected BEFORE INSERT ON llm_budget_holds WHEN NEW.agent_type = 'SecretAdmit'
        BEGIN SELECT RAISE(ABORT, 'rejected: ' || NEW.id || ' ' || NEW.counters); END`)
    }

    const haystacks: Haystack[] = []
    const outputs: unknown[] = []
    const errors: unknown[] = []
    const events: unknown[] = []
    const failing = new Set<string>() // tenants whose config service is "down"
    const apiKeys = (org: { slug: string }) => (sealed[org.slug] ? decryptSecret(sealed[org.slug], org.slug, keyring) : null)
    const configInput = (extra: LlmConfigInput = {}): LlmConfigInput => ({
      budgets: { globalDaily: '100', enforcement: 'hard' },
      onBudgetEvent: (e) => void events.push(e),
      // The app's own resolver fails with an error that quotes the tenant's row, key included.
      tenantConfigResolver: (id) => {
        if (failing.has(id)) throw new Error(`tenant config service rejected ${JSON.stringify({ slug: id, openaiApiKey: K[id]?.openai })}`)
        return null
      },
      ...extra,
    })
    const listen = (config: ReturnType<typeof defineLlmConfig>) => {
      config.events.on('budget', (e) => void events.push(e))
      config.events.on('settle_failed', (e) => void events.push(e))
      return config
    }
    const config = listen(defineLlmConfig(configInput()))
    const providers = { openai: { baseURL: emulator.openaiBaseURL }, anthropic: { baseURL: emulator.anthropicBaseURL } }
    const tenantApiKeys: RuntimeOptions['tenantApiKeys'] = async (t) => {
      const k = K[t.tenantId] ?? {}
      return { openai: k.openai, ...(sealed[t.tenantId] ? { anthropic: apiKeys({ slug: t.tenantId })! } : {}) }
    }
    // Side runtimes over the same database: tiny hold TTL (expiry, late and failed settles), fail open.
    const shortTtl = createLlmRuntime(db().client, { config: listen(defineLlmConfig(configInput({ holdTtlMs: 100 }))), providers, tenantApiKeys })
    const failOpen = createLlmRuntime(db().client, {
      config: listen(
        defineLlmConfig(
          configInput({
            failMode: 'open',
            tenantResolver: () => {
              throw new Error(`resolver failed with ${K.acme.openai}`)
            },
          }),
        ),
      ),
      providers,
      tenantApiKeys,
    })

    const savedEnv = { OPENAI_LOG: process.env.OPENAI_LOG, ANTHROPIC_LOG: process.env.ANTHROPIC_LOG }
    process.env.OPENAI_LOG = 'debug' // the app's own SDK logging must not reach the library's clients
    process.env.ANTHROPIC_LOG = 'debug'
    const output = captureOutput()
    console.info('capture check: console')
    process.stderr.write('capture check: stderr\n')
    const attempt = async (fn: () => Promise<unknown>) => {
      try {
        outputs.push(await fn())
      } catch (err) {
        errors.push(err)
      }
    }
    const drain = (stream: AsyncIterable<string> & { result: Promise<unknown> }) => async () => {
      for await (const d of stream) void d
      return stream.result
    }
    try {
      const prisma = db().client.$extends(
        llmTenant({
          model: 'organization',
          id: 'slug',
          name: 'displayName',
          budget: true,
          apiKeys: { openai: 'openaiApiKey', anthropic: apiKeys },
          providers,
          config,
        }),
      )
      for (const slug of ['acme', 'globex', 'initech', 'umbrella']) {
        await prisma.organization.create({ data: { slug, displayName: slug.toUpperCase(), openaiApiKey: K[slug]?.openai ?? null } })
      }
      const store = new TenantStore(db().client)
      await store.update('acme', { enforcement: 'soft', limits: { dailyExecutions: 2, dailyCost: '0.000001' } })

      const lookup: AgentTool = { name: 'lookup', description: 'x', parameters: { type: 'object' }, run: (a) => ({ found: a.query }) }
      const common = { retries: 0, tools: [lookup], circuitBreaker: { errors: 1000 } }
      const agents = {
        chat: prisma.$llm.defineAgent({ name: 'SecretChat', provider: 'openai', model: 'gpt-4o-mini', ...common }),
        responses: prisma.$llm.defineAgent({ name: 'SecretResponses', provider: 'openai', model: 'gpt-4.1-mini', api: 'responses', ...common }),
        claude: prisma.$llm.defineAgent({ name: 'SecretClaude', provider: 'anthropic', model: 'claude-haiku-4-5', ...common }),
      }
      const models = { chat: 'gpt-4o-mini', responses: 'gpt-4.1-mini', claude: 'claude-haiku-4-5' }

      // Successes, tool calls, streams, echoed-key errors and cut streams, on every API, per tenant.
      for (const tenant of ['acme', 'globex', 'initech']) {
        for (const api of ['chat', 'responses', 'claude'] as const) {
          const key = api === 'claude' ? K[tenant].anthropic : K[tenant].openai
          const agent = agents[api]
          const model = models[api]
          if (!key) {
            await attempt(() => agent.run('no key for this provider', { tenant })) // MissingApiKeyError
            continue
          }
          await attempt(() => agent.run(`hello from ${tenant}`, { tenant }))
          emulator.script(model, { kind: 'tool', name: 'lookup', arguments: { query: 'invoices' } })
          await attempt(() => agent.run('use the tool', { tenant }))
          await attempt(drain(agent.stream('stream it', { tenant })))
          emulator.script(model, { kind: 'error', status: 401 }) // echoes the key it was sent
          await attempt(() => agent.run('bad key', { tenant }))
          emulator.script(model, { kind: 'error', status: 500, message: `upstream saw ${key}; header was "Authorization: Bearer ${key}"` })
          await attempt(() => agent.run('server error', { tenant }))
          emulator.script(model, { kind: 'error', status: 401 })
          await attempt(drain(agent.stream('stream with a bad key', { tenant })))
          emulator.script(model, { kind: 'cut', afterDeltas: 1 })
          await attempt(drain(agent.stream('a long answer that will be cut off mid-way', { tenant })))
        }
      }
      // Tenant B holding tenant A's ciphertext: the key is never decrypted, nothing is sent.
      const sent = emulator.requests.length
      await attempt(() => agents.claude.run('copied key', { tenant: 'umbrella' }))
      expect(errors.at(-1)).toBeInstanceOf(SecretDecryptionError)
      expect(emulator.requests.length).toBe(sent)

      // Direct track() calls with key-shaped metadata; an app error with the key is scrubbed in the ledger.
      const meta = { headers: { Authorization: `Bearer ${K.globex.openai}` }, note: `retrying with ${K.globex.openai}`, apiKey: K.globex.openai }
      await attempt(() =>
        prisma.$llm.track('globex', { agentType: 'SecretTrack', model: 'm', metadata: meta }, async (c) => c.reportUsage({ inputTokens: 1, metadata: meta })),
      )
      await prisma.$llm
        .track('globex', { agentType: 'SecretTrack', model: 'm' }, async () => {
          throw new Error(`provider said: invalid key ${K.globex.openai}`) // the app's own error is rethrown as is: not searched
        })
        .catch(() => undefined)

      // A hold that expires while its call hangs; the late settle records the real outcome.
      const hang = shortTtl.defineAgent({ name: 'SecretHang', provider: 'openai', model: 'gpt-4o', retries: 0, timeoutMs: 5000 })
      emulator.script('gpt-4o', { kind: 'hang', ms: 900 })
      const hanging = attempt(() => hang.run('hang on', { tenant: 'globex' }))
      await sleep(300)
      haystacks.push(...(await dumpLibraryTables(db(), 'during the hang: ')))
      expect(await shortTtl.budgets.releaseExpiredHolds()).toBeGreaterThanOrEqual(1)
      haystacks.push(...(await dumpLibraryTables(db(), 'after expiry: ')))
      await hanging

      // Settles the database rejects (three tries, then 'settle_failed'): a success and an echoed 401.
      const settle = shortTtl.defineAgent({ name: 'SecretSettle', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
      await attempt(() => settle.run('settle me', { tenant: 'acme' }))
      emulator.script('gpt-4o-mini', { kind: 'error', status: 401 })
      await attempt(() => settle.run('settle my error', { tenant: 'initech' }))
      expect(events.filter((e) => (e as { executionId?: string }).executionId !== undefined).length).toBeGreaterThanOrEqual(2)
      await sql(`DROP TRIGGER settle_rejected${kind === 'postgresql' ? ' ON llm_executions' : ''}`)
      await sleep(150) // their holds (TTL 100 ms) have expired; the kept outcomes are written before any hold is released
      expect(await shortTtl.budgets.releaseExpiredHolds()).toBe(0)
      expect(shortTtl.budgets.pendingSettles).toBe(0)
      haystacks.push(...(await dumpLibraryTables(db(), 'after the pending settles: ')))

      // Admission failures: the database rejects the hold; the app's config resolver fails.
      const admit = prisma.$llm.defineAgent({ name: 'SecretAdmit', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
      const admitOpen = failOpen.defineAgent({ name: 'SecretAdmit', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
      await attempt(() => admit.run('closed', { tenant: 'acme' }))
      expect(errors.at(-1)).toBeInstanceOf(AdmissionError)
      await attempt(() => prisma.$llm.track('acme', { agentType: 'SecretAdmit', model: 'm', metadata: meta }, async () => 'never runs'))
      await attempt(() => admitOpen.run('open', { tenant: 'acme' }))
      failing.add('acme')
      await attempt(() => agents.chat.run('config service down', { tenant: 'acme' }))
      expect(errors.at(-1)).toBeInstanceOf(AdmissionError)
      await attempt(() => drain(agents.claude.stream('config service down', { tenant: 'acme' }))())
      await attempt(() => failOpen.defineAgent({ name: 'SecretOpen', provider: 'openai', model: 'gpt-4o-mini' }).run('open', { tenant: 'acme' }))
      failing.delete('acme')
      await attempt(() => failOpen.defineAgent({ name: 'SecretOpen', provider: 'openai', model: 'gpt-4o-mini' }).run('resolver down'))

      // Hard refusals (tenant and streams).
      await store.update('globex', { enforcement: 'hard', limits: { dailyCost: 0 } })
      await attempt(() => agents.chat.run('refused', { tenant: 'globex' }))
      expect(errors.at(-1)).toBeInstanceOf(BudgetExceededError)
      await attempt(drain(agents.claude.stream('refused stream', { tenant: 'globex' })))
      await attempt(() => prisma.$llm.track('globex', { agentType: 'SecretTrack', model: 'm', estimate: { cost: '0.01' }, metadata: meta }, async () => 1))

      // Everything a dashboard or a log line would serialize.
      for (const tenantId of ['acme', 'globex', 'initech', 'umbrella']) {
        const q = { tenantId }
        outputs.push(
          await prisma.$llm.ledger.usageSummary(q),
          await prisma.$llm.ledger.recentExecutions({ ...q, limit: 500 }),
          await prisma.$llm.ledger.failedExecutions({ ...q, limit: 500 }),
          await prisma.$llm.ledger.usageByAgent(q),
          await prisma.$llm.ledger.usageByModel(q),
          await prisma.$llm.ledger.usageByDay(q),
          await prisma.$llm.budgets.status(tenantId),
          await store.find(tenantId),
        )
        const org = await prisma.organization.findUniqueOrThrow({ where: { slug: tenantId } })
        outputs.push(await org.llmBudgetStatus(), await org.llmUsageSummary(), await org.llmRecentExecutions())
      }
      outputs.push(await prisma.$llm.ledger.costByTenant({ period: 'today' }), await prisma.$llm.budgets.refreshCounters())
    } finally {
      output.restore()
      Object.assign(process.env, savedEnv)
      for (const [k, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[k]
    }

    expect(output.text()).toMatch(/capture check: console[\s\S]*capture check: stderr/)
    // The keys were really used (the emulator saw each of them)...
    for (const key of canaries)
      expect(
        emulator.requests.some((r) => r.apiKey === key),
        `${key.slice(0, 14)}… never sent`,
      ).toBe(true)
    expect(emulator.requests.some((r) => r.stream && r.api === 'messages')).toBe(true)
    const types = new Set(events.map((e) => (e as { type?: string }).type ?? 'settle_failed'))
    expect([...types].sort()).toEqual(['hard_limit_refused', 'settle_failed', 'soft_limit_reached'])
    expect(await db().rawQuery(`SELECT id FROM llm_budget_holds WHERE state = 'open'`)).toEqual([])
    // ...and appear nowhere else.
    haystacks.push(...(await dumpLibraryTables(db(), 'final: ')), ['console and stdout/stderr', output.text()])
    errors.forEach((e, i) => haystacks.push([`error ${i} (${(e as Error)?.name})`, renderError(e)]))
    events.forEach((e, i) => haystacks.push([`event ${i}`, renderError(e)]))
    outputs.forEach((o, i) => haystacks.push([`result ${i}`, render(o)]))
    const scan = scanForSecrets(canaries, haystacks)
    console.log(
      `secrets (${kind}): ${scan.secrets} canary keys, ${scan.searches} searches over ${scan.bytes} bytes, ${scan.hits.length} hits ` +
        `(${errors.length} errors, ${events.length} events, ${outputs.length} results, ${haystacks.filter(([w]) => w.includes('table')).length} table dumps)`,
    )
    expect(scan.hits.map((h) => `${h.where}: …${h.excerpt.replaceAll(h.needle, '<<CANARY>>')}…`)).toEqual([])
    expect(errors.length).toBeGreaterThan(30)
    expect(outputs.length).toBeGreaterThan(30)
  }, 120_000)
})
