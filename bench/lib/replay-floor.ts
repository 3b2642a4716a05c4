/**
 * The SQLite raw floor: the exact statements our hot path ran, replayed with no library code.
 *
 * With sqliteFastPath the hot path already runs on better-sqlite3 itself, so "the same SQL through
 * the raw driver" can only mean: record what a run of calls sent to the connection (each
 * transaction's statements with their bound values, and whether it committed), then replay it on
 * a copy of the database taken just before that run — compiled statements, values prepared in
 * advance, one `BEGIN IMMEDIATE … COMMIT` per recorded transaction. The copy starts in the same
 * state, so every statement does the same work (same ids, same counter rows, same results). What
 * remains is SQLite's own cost; ours ÷ this floor is what our JavaScript adds on top.
 */
import Database from 'better-sqlite3'
import { copyFileSync, rmSync } from 'node:fs'
import { SqliteDirectConnection, directSqliteConnection } from '../../src/db/sqlite-direct.ts'

interface RecordedTransaction {
  /** Each statement with its bound values, how it was run, and what it did (rows changed or returned). */
  statements: Array<{ sql: string; values: unknown[]; via: 'query' | 'changes'; did: number }>
  /** false: rolled back (by decision, or because a statement threw — that statement is not recorded). */
  commit: boolean
  /** A statement run outside any transaction (autocommit): replayed alone, without BEGIN/COMMIT. */
  autocommit?: boolean
}

const bindLikeAdapter = (v: unknown) => (v instanceof Date ? v.toISOString().replace('Z', '+00:00') : typeof v === 'boolean' ? (v ? 1 : 0) : v)

/**
 * Runs `calls` calls through `run` while recording the connection's transactions per call, then
 * replays each call's transactions on a copy of the file. Returns the replay's per-call latencies
 * in ms, sorted. (Statements the library sends through Prisma instead — a tenant-row reload once
 * per cache TTL — are not on the connection and not replayed: the floor is, if anything, low.)
 */
export async function sqliteReplayFloor(
  client: { $queryRawUnsafe(sql: string): Promise<unknown> },
  file: string,
  calls: number,
  run: (i: number) => Promise<unknown>,
): Promise<number[]> {
  const direct = directSqliteConnection(client)
  if (!direct) throw new Error('the replay floor needs a client wrapped with sqliteFastPath')
  // A consistent copy: everything checkpointed into the main file, the WAL emptied.
  const [checkpoint] = (await client.$queryRawUnsafe('PRAGMA wal_checkpoint(TRUNCATE)')) as Array<{ busy: unknown }>
  if (Number(checkpoint?.busy) !== 0) throw new Error('the replay floor could not checkpoint the database (busy)')
  const copy = `${file}.floor`
  for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true })
  copyFileSync(file, copy)

  const perCall: RecordedTransaction[][] = []
  let current: RecordedTransaction[] = []
  const proto = SqliteDirectConnection.prototype
  const original = { transaction: proto.transaction, query: proto.query, changes: proto.changes }
  let open: RecordedTransaction | null = null
  const record = (sql: string, values: readonly unknown[], via: 'query' | 'changes', did: number) => {
    const entry = { sql, values: values.map(bindLikeAdapter), via, did }
    if (open) open.statements.push(entry)
    else current.push({ statements: [entry], commit: true, autocommit: true })
  }
  Object.assign(direct, {
    transaction<T>(work: (tx: SqliteDirectConnection) => { commit: boolean; value: T }): T {
      const tx: RecordedTransaction = { statements: [], commit: false }
      current.push(tx)
      open = tx
      try {
        return original.transaction.call(direct, (conn) => {
          const result = work(conn)
          tx.commit = result.commit
          return result
        }) as T
      } finally {
        open = null
      }
    },
    query(sql: string, values: readonly unknown[]) {
      const rows = original.query.call(direct, sql, values)
      record(sql, values, 'query', rows.length)
      return rows
    },
    changes(sql: string, values: readonly unknown[]) {
      const changed = original.changes.call(direct, sql, values)
      record(sql, values, 'changes', changed)
      return changed
    },
  })
  try {
    for (let i = 0; i < calls; i++) {
      current = []
      await run(i)
      perCall.push(current)
    }
  } finally {
    // The instance's own properties shadowed the prototype's methods: drop them.
    for (const name of Object.keys(original)) delete (direct as unknown as Record<string, unknown>)[name]
  }

  const db = new Database(copy)
  try {
    db.pragma('journal_mode = WAL')
    db.defaultSafeIntegers(true) // as @prisma/adapter-better-sqlite3 opens its connection
    const compiled = new Map<string, Database.Statement>()
    const prepare = (sql: string) => compiled.get(sql) ?? compiled.set(sql, db.prepare(sql)).get(sql)!
    const begin = db.prepare('BEGIN IMMEDIATE')
    const commit = db.prepare('COMMIT')
    const rollback = db.prepare('ROLLBACK')
    // Compile everything before timing: the library's connection had compiled its statements too.
    for (const txs of perCall) for (const tx of txs) for (const s of tx.statements) prepare(s.sql)
    const latencies: number[] = []
    let diverged = 0
    for (const txs of perCall) {
      const t = performance.now()
      for (const tx of txs) {
        if (!tx.autocommit) begin.run()
        for (const s of tx.statements) {
          const stmt = prepare(s.sql)
          // As the library's connection ran it: query → rows (none for a writer), changes → rows changed.
          const did = s.via === 'changes' ? stmt.run(s.values).changes : stmt.reader ? stmt.all(s.values).length : (stmt.run(s.values), 0)
          if (did !== s.did) diverged++
        }
        if (!tx.autocommit) (tx.commit ? commit : rollback).run()
      }
      latencies.push(performance.now() - t)
    }
    // A replay that did less work than the recording would be a floor too low to mean anything.
    if (diverged > 0) throw new Error(`the replay floor diverged from the recorded run in ${diverged} statements`)
    return latencies.sort((a, b) => a - b)
  } finally {
    db.close()
    for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true })
  }
}
