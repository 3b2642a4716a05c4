/**
 * Scenario 8's processes sharing one limit: `node --import tsx bench/rate-limit-child.ts <sqlite|postgresql> <location> <peer table>`
 * (location: the SQLite file or the PostgreSQL schema; the URL comes from TEST_POSTGRES_URL). Four
 * of these hammer the same key of the same database, one design at a time, so what is measured is
 * whether the design's limit holds across processes (the in-process figures cannot show that).
 *
 * Prints READY once connected, then takes one line per round on stdin (a barrier across the
 * processes: the parent writes the line to all of them at once):
 *   GO <ours|peer> <key> <calls> <in flight> <limit>   fire `calls` calls, `in flight` at once, then print RESULT <json>
 *   EXIT                                             disconnect and exit
 * ours: `LlmBudgets.track` for tenant <key> (the parent gave it `requestsPerHour: <limit>`), on the
 * recommended setup (sqliteFastPath / pgFastPath). peer: rate-limiter-flexible's store for the same
 * database (RateLimiterSQLite on better-sqlite3, RateLimiterPostgres on a `pg` pool) in the table the
 * parent created, `consume(key, 1)` with `points: <limit>` per hour. An admitted call of either
 * design then "calls the provider" for 0–3 ms, as test/support/fault-worker.ts does.
 */
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import pg from 'pg'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { RateLimiterPostgres, RateLimiterRes, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { PrismaClient as SqliteClient } from '../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../generated/postgresql/client.ts'
import { BudgetExceededError, LlmBudgets, RateLimitExceededError, pgFastPath, preparedStatementName, sqliteFastPath } from '../src/index.ts'

// The peer's table was created by the parent (lib/rate-limits.ts).
const [kind, location, peerTable] = process.argv.slice(2)
const url = process.env.TEST_POSTGRES_URL
const client =
  kind === 'sqlite'
    ? new SqliteClient({ adapter: sqliteFastPath(new PrismaBetterSqlite3({ url: `file:${location}` })) })
    : new PostgresClient({
        adapter: pgFastPath(
          new PrismaPg(
            { connectionString: url, options: `-c search_path="${location}"`, max: 10 },
            { schema: location, statementNameGenerator: preparedStatementName },
          ),
        ),
      })
const budgets = new LlmBudgets(client, { refusalBackoffMs: 0 })
// The peer's own connection, as an app would give it one: a better-sqlite3 handle on the same file / a pg pool on the same schema.
const sqlite = kind === 'sqlite' ? new Database(location) : null
const pool = kind === 'postgresql' ? new pg.Pool({ connectionString: url, options: `-c search_path="${location}"`, max: 10 }) : null

function peerLimiter(limit: number): RateLimiterAbstract {
  const common = { tableName: peerTable, tableCreated: true, clearExpiredByTimeout: false, points: limit, duration: 3600 }
  return sqlite
    ? new RateLimiterSQLite({ ...common, storeClient: sqlite, storeType: 'better-sqlite3' })
    : new RateLimiterPostgres({ ...common, storeClient: pool, schemaName: location })
}

const provider = () => new Promise((r) => setTimeout(r, Math.random() * 3))
const call = { agentType: 'Burst', model: 'm', estimate: { cost: '0', tokens: 10 } }

interface Result {
  admitted: number
  refused: number
  errors: Record<string, number>
  ms: number
}

async function round(design: string, key: string, calls: number, inFlight: number, limit: number): Promise<Result> {
  const result: Result = { admitted: 0, refused: 0, errors: {}, ms: 0 }
  const peer = design === 'peer' ? peerLimiter(limit) : null
  const one = async () => {
    try {
      if (peer) {
        await peer.consume(key, 1)
        await provider()
      } else {
        await budgets.track(key, call, async (c) => {
          await provider()
          c.reportUsage({ inputTokens: 6, outputTokens: 4, inputCost: '0', outputCost: '0' })
        })
      }
      result.admitted++
    } catch (e) {
      // The peer rejects with a RateLimiterRes when the key has no points left, with an Error otherwise.
      if (e instanceof RateLimiterRes || e instanceof RateLimitExceededError || e instanceof BudgetExceededError) result.refused++
      else {
        const key = `${(e as Error).name}: ${String((e as Error).message)
          .split('\n')
          .join(' ')
          .slice(0, 300)}`
        result.errors[key] = (result.errors[key] ?? 0) + 1
      }
    }
  }
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(inFlight, calls) }, async () => {
      while (next++ < calls) await one()
    }),
  )
  result.ms = performance.now() - started
  return result
}

// Warm up our connection (reads only: nothing recorded) and the peer's, then report ready.
await budgets.status('warm-up')
if (pool) await pool.query('SELECT 1')
process.stdout.write('READY\n')
for await (const line of createInterface({ input: process.stdin })) {
  const [verb, design, key, calls, inFlight, limit] = line.trim().split(' ')
  if (verb === 'EXIT') break
  if (verb !== 'GO') continue
  const result = await round(design, key, Number(calls), Number(inFlight), Number(limit))
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
}
await client.$disconnect()
sqlite?.close()
await pool?.end()
process.exit(0)
