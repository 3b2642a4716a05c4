/**
 * Scenario 7's measuring process: `node --expose-gc --import tsx bench/memory-child.ts <sqlite|postgresql> <calls> <in flight>`.
 * A process of its own, so the RSS it reports is this workload's alone (in the bench process, the
 * 1M-row seeds of the earlier scenarios would still be in it). Prints one JSON line: a sample
 * (RSS and heap in use, both after a full GC) before the first call and after every 10% of them.
 */
import { LlmBudgets } from '../src/index.ts'
import { openDatabase, type DbKind } from '../test/support/databases.ts'

const [kind, callsArg, inFlightArg] = process.argv.slice(2)
const calls = Number(callsArg)
const inFlight = Number(inFlightArg)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

const call = { agentType: 'Bench', model: 'm', estimate: { cost: '0.0001', tokens: 100 } }
const usage = async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: '0.00001', outputCost: '0.00002' })

const db = await openDatabase(kind as DbKind)
try {
  if (kind === 'sqlite') await db.rawQuery('PRAGMA journal_mode = WAL') // the recommended setup (README), as in scenario 1
  const budgets = new LlmBudgets(db.client)
  const samples: Array<{ rss: number; heap: number }> = []
  const sample = () => {
    gc()
    const m = process.memoryUsage()
    samples.push({ rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 })
  }
  sample()
  const every = Math.floor(calls / 10)
  // Autovacuum is off on these machines' PostgreSQL. Every call inserts and deletes a hold and
  // rewrites its ledger and counter rows, so without vacuum those tables only grow (measured: 3,200
  // calls/s over the first 100k calls, 1,100 on average over 550k). So the holds and counters are
  // vacuumed every 0.5% of the calls and the ledger every 10%, concurrently with the calls (with
  // that, 200k calls ran at ~5,100 calls/s throughout).
  const vacuumEvery = Math.max(1, Math.floor(calls / 200))
  let vacuuming: Promise<unknown> | null = null
  const vacuum = (tables: string) => {
    if (kind !== 'postgresql' || vacuuming) return
    vacuuming = db.rawQuery(`VACUUM ${tables}`).finally(() => (vacuuming = null))
  }
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < calls) {
      const i = next++
      await budgets.track(`mem-${i % 50}`, call, usage)
      ++done
      if (done % every === 0) {
        await vacuuming
        vacuum('"llm_budget_holds", "llm_budget_counters", "llm_executions"')
        sample()
      } else if (done % vacuumEvery === 0) vacuum('"llm_budget_holds", "llm_budget_counters"')
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  await vacuuming
  console.log(JSON.stringify({ samples }))
} finally {
  await db.close()
}
