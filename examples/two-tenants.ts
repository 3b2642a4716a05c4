/**
 * `npm run example`: two tenants, each with its own provider key, running a real agent through the
 * official OpenAI and Anthropic SDKs — offline, against the bundled local provider emulator on
 * 127.0.0.1 — on an embedded SQLite file. Shows per-tenant keys, exact costs, a usage summary, a
 * soft-limit event and a BudgetExceededError.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaClient } from '../generated/sqlite/client.ts'
import { applyLlmTenantSchema, BudgetExceededError, defineLlmConfig, llmTenant } from 'prisma-llm-tenant'
import { ProviderEmulator } from 'prisma-llm-tenant/testing'

const emulator = await new ProviderEmulator().start()
const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-example-'))
const base = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${join(dir, 'example.db')}` }) })

try {
  await applyLlmTenantSchema(base)
  await base.$executeRawUnsafe(
    `CREATE TABLE "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  )
  const config = defineLlmConfig({
    timeZone: 'Europe/Berlin',
    onBudgetEvent: (e) => console.log(`  ⚑ budget event: ${e.type} — tenant ${e.tenantId} ${e.limitType} ${e.current} of ${e.limit}`),
  })
  const prisma = base.$extends(
    llmTenant({
      model: 'organization',
      id: 'slug',
      name: 'displayName',
      budget: true,
      apiKeys: { openai: 'openaiApiKey' },
      // Offline: the SDKs talk to the local emulator instead of api.openai.com / api.anthropic.com.
      providers: { openai: { baseURL: emulator.openaiBaseURL }, anthropic: { baseURL: emulator.anthropicBaseURL } },
      config,
    }),
  )
  console.log(`(offline provider: the bundled emulator at ${emulator.anthropicBaseURL}; no network, no real API keys)`)

  const acme = await prisma.organization.create({ data: { slug: 'acme', displayName: 'Acme Corp', openaiApiKey: 'sk-acme-demo-key' } })
  const globex = await prisma.organization.create({ data: { slug: 'globex', displayName: 'Globex', openaiApiKey: 'sk-globex-demo-key' } })
  await acme.llmConfigure({ limits: { dailyCost: '0.00002' }, enforcement: 'soft' }) // alerts, never blocks
  await globex.llmConfigure({ limits: { dailyExecutions: 2 }, enforcement: 'hard' }) // blocks the third call

  const support = prisma.$llm.defineAgent({ name: 'SupportAgent', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Answer support questions briefly.' })
  const questions = ['Where is my order #1234?', 'Can I change the delivery address?', 'Do you ship to Norway?']
  for (const org of [acme, globex]) {
    console.log(`${org.displayName}:`)
    for (const question of questions) {
      try {
        const reply = await support.run(question, { tenant: org })
        const key = emulator.requests.at(-1)?.apiKey === org.openaiApiKey ? 'own key' : 'OTHER KEY'
        console.log(`  ${reply.text.padEnd(44)} $${reply.cost.toFixed(9)} (${reply.usage.inputTokens}+${reply.usage.outputTokens} tokens, ${key})`)
      } catch (err) {
        if (!(err instanceof BudgetExceededError)) throw err
        console.log(`  refused before the provider: ${err.message}`)
      }
    }
  }

  for (const org of [acme, globex]) {
    const s = await org.llmUsageSummary({ period: 'this_month' })
    console.log(
      `${org.slug}: $${s.cost.toFixed(9)} · ${s.tokens} tokens · ${s.executions} executions, refusals included (${s.period.name}, ${s.period.timeZone})`,
    )
  }
  const top = await prisma.organization.llmTopSpenders({ period: 'this_month', limit: 5 })
  console.log(`top spender: ${top[0].tenantId} ($${top[0].cost.toFixed(9)})`)
} finally {
  await base.$disconnect()
  await emulator.close()
  rmSync(dir, { recursive: true, force: true })
}
