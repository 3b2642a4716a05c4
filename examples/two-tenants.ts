/**
 * `npm run example`: two tenants on an embedded SQLite file, no network, no API keys.
 *
 * The "LLM" here is a local function that returns token usage the way a provider would; the app
 * prices it and records it in the ledger, then prints each tenant's usage summary.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaClient } from '../generated/sqlite/client.ts'
import { applyLlmTenantSchema, createLedger, Decimal, TenantStore } from 'prisma-llm-tenant'

// Prices per million tokens, as exact decimals (never floats).
const PRICES = {
  'gpt-4o-mini': { input: new Decimal('0.15'), output: new Decimal('0.60') },
  'claude-haiku-4-5': { input: new Decimal('1.00'), output: new Decimal('5.00') },
} as const
type Model = keyof typeof PRICES

/** Stands in for a provider call: deterministic usage from the prompt, no network. */
function fakeCompletion(prompt: string): { inputTokens: number; outputTokens: number } {
  return { inputTokens: prompt.length * 3, outputTokens: 40 + (prompt.length % 17) }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-example-'))
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${join(dir, 'example.db')}` }) })
  try {
    await applyLlmTenantSchema(prisma)
    await prisma.$executeRawUnsafe(
      `CREATE TABLE "organizations" ("id" TEXT NOT NULL PRIMARY KEY, "slug" TEXT NOT NULL UNIQUE, "display_name" TEXT NOT NULL, "openai_api_key" TEXT, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
    )

    const ledger = createLedger(prisma, { timeZone: 'Europe/Berlin' })
    const tenants = new TenantStore(prisma)
    for (const [slug, name] of [['acme', 'Acme Corp'], ['globex', 'Globex']] as const) {
      const org = await prisma.organization.create({ data: { slug, displayName: name } })
      await tenants.upsert({ tenantId: slug, name, record: { type: 'Organization', id: org.id }, limits: { monthlyCost: '25.00' } })
    }

    const calls: Array<[tenant: string, agent: string, model: Model, prompt: string]> = [
      ['acme', 'SupportAgent', 'gpt-4o-mini', 'Where is my order #1234?'],
      ['acme', 'SupportAgent', 'gpt-4o-mini', 'Can I change the delivery address?'],
      ['acme', 'Summarizer', 'claude-haiku-4-5', 'Summarise this ticket thread for the on-call engineer.'],
      ['globex', 'SupportAgent', 'claude-haiku-4-5', 'Reset my password please'],
      ['globex', 'Translator', 'gpt-4o-mini', 'Translate "good morning" to German'],
    ]
    for (const [tenantId, agentType, model, prompt] of calls) {
      const startedAt = new Date()
      const usage = fakeCompletion(prompt)
      const price = PRICES[model]
      await ledger.recordExecution({
        tenantId,
        agentType,
        model,
        provider: model.startsWith('gpt') ? 'openai' : 'anthropic',
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        inputCost: price.input.times(usage.inputTokens).dividedBy(1_000_000),
        outputCost: price.output.times(usage.outputTokens).dividedBy(1_000_000),
        startedAt,
        durationMs: 120,
        metadata: { promptChars: prompt.length },
      })
    }

    for (const tenantId of ['acme', 'globex']) {
      const s = await ledger.usageSummary({ tenantId, period: 'this_month' })
      const byAgent = await ledger.usageByAgent({ tenantId, period: 'this_month' })
      console.log(`${tenantId}: $${s.cost.toFixed(9)} · ${s.tokens} tokens · ${s.executions} executions (${s.period.name}, ${s.period.timeZone})`)
      for (const [agent, u] of Object.entries(byAgent)) {
        console.log(`  ${agent.padEnd(13)} $${u.cost.toFixed(9)}  ${u.tokens} tokens  ${u.count} calls`)
      }
    }
    const top = await ledger.costByTenant({ period: 'this_month', limit: 5 })
    console.log(`top spender: ${top[0].tenantId} ($${top[0].cost.toFixed(9)})`)
  } finally {
    await prisma.$disconnect()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
