/**
 * A child process for the process-level fault tests (test/reliability/faults.process.test.ts and
 * faults.multiprocess.test.ts). Started as `node --import tsx fault-worker.ts <mode> <kind>
 * <location> <tenant> <json options>` (location: SQLite file or PostgreSQL schema; the PostgreSQL
 * URL comes from TEST_POSTGRES_URL). Modes:
 *
 *   hold   settles `settled` calls, then opens `holds` concurrent calls that never return, printing
 *          `ADMITTED <id>` for each: a holder of several reservations, to be SIGKILLed.
 *   churn  runs calls forever with `inflight` in flight (`ADMITTED <id>` inside each call, `DONE
 *          <id>` after its settle): killed at a random point under load.
 *   load   prints READY, waits for GO on stdin (a barrier across processes), fires `calls` calls with
 *          `inflight` in flight, prints `RESULT <json>` and exits (refusals by a budget or a rate
 *          window count as refused; `skewMs` runs this process's clock off by that much).
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { BudgetExceededError, LlmBudgets, RateLimitExceededError, preparedStatementName } from '../../src/index.ts'

export interface WorkerOptions {
  holdTtlMs?: number
  holds?: number
  settled?: number
  calls?: number
  inflight?: number
  /** Reservation and reported cost per call (USD strings). */
  estimate?: string
  cost?: string
  appName?: string
  /** This process's clock runs this many ms off (app servers with skewed clocks). */
  skewMs?: number
}

const [mode, kind, location, tenant, json] = process.argv.slice(2)
const opts: WorkerOptions = JSON.parse(json ?? '{}')
const client =
  kind === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${location}` }) })
    : // Deliberately without pgFastPath: the multi-process tests keep the all-Prisma PostgreSQL path
      // covered across processes (the in-process tests use the fast path, the recommended setup).
      new PostgresClient({
        adapter: new PrismaPg(
          {
            connectionString: process.env.TEST_POSTGRES_URL,
            options: `-c search_path="${location}"`,
            application_name: opts.appName ?? 'fault-worker',
            max: 20,
          },
          { schema: location, statementNameGenerator: preparedStatementName },
        ),
      })
const skew = opts.skewMs ?? 0
const budgets = new LlmBudgets(client, { holdTtlMs: opts.holdTtlMs ?? 600_000, now: () => new Date(Date.now() + skew) })
let settleFailed = 0
budgets.config.events.on('settle_failed', () => settleFailed++)
const out = (line: string) => process.stdout.write(`${line}\n`)
const call = { agentType: 'Worker', model: 'm', estimate: { cost: opts.estimate ?? '0.10', tokens: 10 } }
const usage = { inputTokens: 6, outputTokens: 4, inputCost: '0', outputCost: opts.cost ?? opts.estimate ?? '0.10' }
const forever = () => new Promise<never>(() => {})

async function pool(n: number, inflight: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(inflight, n) }, async () => {
      while (next < n) await one(next++)
    }),
  )
}

if (mode === 'hold' || mode === 'churn') setInterval(() => {}, 1 << 30) // stay alive until killed

if (mode === 'hold') {
  for (let i = 0; i < (opts.settled ?? 0); i++) {
    await budgets.track(tenant, call, async (c) => {
      c.reportUsage(usage)
      out(`SETTLED ${c.executionId}`)
    })
  }
  for (let i = 0; i < (opts.holds ?? 1); i++) {
    void budgets.track(tenant, call, async (c) => {
      out(`ADMITTED ${c.executionId}`)
      return forever() // never returns: the test kills us here
    })
  }
} else if (mode === 'churn') {
  await pool(Number.MAX_SAFE_INTEGER, opts.inflight ?? 8, async () => {
    let id = ''
    await budgets
      .track(tenant, call, async (c) => {
        id = c.executionId
        out(`ADMITTED ${id}`)
        await new Promise((r) => setTimeout(r, Math.random() * 4))
        c.reportUsage(usage)
      })
      .catch((e: Error) => out(`ERROR ${e.name}: ${e.message.split('\n').join(' ').slice(0, 300)}`))
    if (id) out(`DONE ${id}`)
  })
} else if (mode === 'load') {
  // Warm up the connection (not a call: nothing recorded), then wait for the parent's GO.
  await budgets.status(tenant)
  out('READY')
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
  const result = { pid: process.pid, admitted: [] as string[], refused: 0, errors: {} as Record<string, number>, settleFailed: 0, ms: 0 }
  const started = Date.now()
  await pool(opts.calls ?? 100, opts.inflight ?? 16, async () => {
    try {
      await budgets.track(tenant, call, async (c) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3))
        c.reportUsage(usage)
        result.admitted.push(c.executionId)
      })
    } catch (e) {
      if (e instanceof BudgetExceededError || e instanceof RateLimitExceededError) result.refused++
      else {
        const err = e as Error
        const key = `${err.name}: ${err.message.split('\n').join(' ').slice(0, 400)}`
        result.errors[key] = (result.errors[key] ?? 0) + 1
      }
    }
  })
  result.ms = Date.now() - started
  result.settleFailed = settleFailed
  out(`RESULT ${JSON.stringify(result)}`)
  await client.$disconnect()
  process.exit(0)
} else {
  throw new Error(`unknown mode ${mode}`)
}
