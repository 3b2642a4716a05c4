/**
 * Another process that authenticates requests: every 25 ms it verifies the raw key given on stdin
 * and prints `KEY ok|<error name> <epoch ms>` whenever the outcome changes. argv: kind, location
 * (SQLite file or PostgreSQL schema), tenantCacheTtlMs. The key comes on stdin so that it never
 * appears in a process list.
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../generated/postgresql/client.ts'
import { createApiKeys } from '../../src/index.ts'

const [kind, location, ttl] = process.argv.slice(2)
const client =
  kind === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${location}` }) })
    : new PostgresClient({
        adapter: new PrismaPg({ connectionString: process.env.TEST_POSTGRES_URL, options: `-c search_path="${location}"` }, { schema: location }),
      })
const keys = createApiKeys(client, { config: { tenantCacheTtlMs: Number(ttl) } })
const raw = await new Promise<string>((resolve) => {
  let text = ''
  process.stdin.on('data', (d: Buffer) => {
    text += d.toString()
    if (text.includes('\n')) resolve(text.trim())
  })
})
let last = ''
for (;;) {
  const seen = await keys.verifyApiKey(raw).then(
    () => 'ok',
    (err: Error) => err.name,
  )
  if (seen !== last) process.stdout.write(`KEY ${seen} ${Date.now()}\n`)
  last = seen
  await new Promise((r) => setTimeout(r, 25))
}
