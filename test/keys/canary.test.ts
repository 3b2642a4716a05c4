/**
 * Canary tenant API keys: raw keys issued, verified, mistyped, rotated, revoked, used for calls
 * (also misused: passed where a key id belongs, put into call metadata and tenant metadata) and
 * refused — then searched for (whole, and their last 8 and 12 characters) in every table of the
 * library, every console/stdout/stderr line, every error, every budget event, every audit event
 * and every result the API returned except the one that hands the secret out. 0 hits.
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { captureOutput, dumpLibraryTables, render, renderError, scanForSecrets, type Haystack } from '../support/leak-scan.ts'
import { LlmBudgets, TenantStore, createApiKeys, createAuditLog, createLedger, defineLlmConfig } from '../../src/index.ts'

describe.each(DATABASES)('canary tenant API keys never leak on %s', (kind) => {
  const db = useDatabase(kind)

  it('no raw key appears in any table, log line, error, event or result', async () => {
    const events: unknown[] = []
    const config = defineLlmConfig({ budgets: { enforcement: 'hard' }, onBudgetEvent: (e) => void events.push(e), tenantCacheTtlMs: 0 })
    const output = captureOutput()
    const errors: unknown[] = []
    const outputs: unknown[] = []
    const canaries: string[] = []
    const attempt = async (run: () => unknown) => {
      try {
        outputs.push(await run())
      } catch (err) {
        // The app's own error, thrown inside track() and rethrown unchanged, is the app's to word;
        // what the library made of it (the ledger row's error message) is in the table dumps.
        if (!String((err as Error)?.message).startsWith('provider said no')) errors.push(err)
      }
    }
    try {
      console.log('capture check: console')
      process.stderr.write('capture check: stderr\n')
      const store = new TenantStore(db().client)
      const budgets = new LlmBudgets(db().client, config)
      for (const [tenant, prefix, pepper] of [
        ['canary-a', 'sk_live', null],
        ['canary-b', 'tk', 'a-server-pepper-of-32-characters!'],
      ] as const) {
        await store.upsert({ tenantId: tenant, limits: { dailyExecutions: 3 }, enforcement: 'hard' })
        const keys = createApiKeys(db().client, { config, prefix, pepper })
        const first = await keys.createApiKey(tenant, { name: 'production', rateLimits: { requestsPerMinute: 10 } })
        const second = await keys.createApiKey(tenant, { name: 'staging', metadata: { note: `was ${first.secret}`, apiKey: first.secret } })
        canaries.push(first.secret, second.secret)
        await attempt(() => keys.verifyApiKey(first.secret))
        await attempt(() => keys.verifyApiKey(`${first.secret.slice(0, -1)}x`))
        await attempt(() => keys.verifyApiKey(first.secret.toUpperCase()))
        // Misuse: the secret where a key id belongs, and in metadata.
        await attempt(() => budgets.track(tenant, { agentType: 'Chat', model: 'm', apiKeyId: first.secret }, async () => 'x'))
        await attempt(() => keys.revokeApiKey(first.secret))
        await attempt(() => keys.rotateApiKey(first.secret))
        const id = first.key.id
        for (let i = 0; i < 4; i++) {
          await attempt(() =>
            budgets.track(tenant, { agentType: 'Chat', model: 'm', apiKeyId: id, metadata: { presented: first.secret, i } }, async (c) => {
              c.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: '0.01' })
              if (i === 1) throw new Error(`provider said no to ${first.secret}`)
              return 'ok'
            }),
          )
        }
        await attempt(() => store.update(tenant, { metadata: { lastKey: first.secret } }))
        const rotated = await keys.rotateApiKey(id, { gracePeriod: '1h' })
        canaries.push(rotated.secret)
        await attempt(() => keys.verifyApiKey(first.secret))
        await attempt(() => keys.revokeApiKey(id))
        await attempt(() => keys.verifyApiKey(rotated.secret))
        await attempt(() => keys.verifyApiKey(first.secret))
        await attempt(() => keys.listApiKeys(tenant, { includeRotated: true }))
        await attempt(() => keys.getApiKey(id))
        await attempt(() => createLedger(db().client, config).usageByApiKey({ tenantId: tenant }))
        await attempt(() => createLedger(db().client, config).recentExecutions({ tenantId: tenant, includeRefused: true, limit: 100 }))
        await attempt(() => budgets.status(tenant))
        await attempt(() => createAuditLog(db().client, config).events({ tenantId: tenant, limit: 500 }))
      }
    } finally {
      output.restore()
    }
    expect(output.text()).toMatch(/capture check: console[\s\S]*capture check: stderr/)
    expect(errors.length).toBeGreaterThan(10)
    expect(events.length).toBeGreaterThan(0)
    const haystacks: Haystack[] = [...(await dumpLibraryTables(db())), ['console and stdout/stderr', output.text()]]
    errors.forEach((e, i) => haystacks.push([`error ${i} (${(e as Error)?.name})`, renderError(e)]))
    events.forEach((e, i) => haystacks.push([`event ${i}`, render(e)]))
    outputs.forEach((o, i) => haystacks.push([`result ${i}`, render(o)]))
    const scan = scanForSecrets(canaries, haystacks)
    console.log(`api key canaries (${kind}): ${scan.secrets} keys, ${scan.searches} searches over ${scan.bytes} bytes, ${scan.hits.length} hits`)
    expect(scan.hits.map((h) => `${h.where}: …${h.excerpt.replaceAll(h.needle, '<<CANARY>>')}…`)).toEqual([])
  }, 60_000)
})
