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
  /** Each statement with its bound values and what it did: rows changed (writes) or returned (reads). */
  statements: Array<{ sql: string; values: unknown[]; did: number }>
  commit: boolean
}

const bindLikeAdapter = (v: unknown) => (v instanceof Date ? v.toISOString().replace('Z', '+00:00') : typeof v === 'boolean' ? (v ? 1 : 0) : v)

/**
 * Runs `calls` calls through `run` while recording the connection's transactions per call, then
 * replays each call's transactions on a copy of the file. Returns the replay's per-call latencies
 * in ms, sorted.
 */
export async function sqliteReplayFloor(client: { $queryRawUnsafe(sql: string): Promise<unknown> }, file: string, calls: number, run: (i: number) => Promise<unknown>): Promise<number[]> {
  const direct = directSqliteConnection(client)
  if (!direct) throw new Error('the replay floor needs a client wrapped with sqliteFastPath')
  // A consistent copy: everything checkpointed into the main file, the WAL emptied.
  await client.$queryRawUnsafe('PRAGMA wal_checkpoint(TRUNCATE)')
  const copy = `${file}.floor`
  copyFileSync(file, copy)

  const perCall: RecordedTransaction[][] = []
  let current: RecordedTransaction[] = []
  const proto = SqliteDirectConnection.prototype
  const original = { transaction: proto.transaction, query: proto.query, changes: proto.changes }
  let open: RecordedTransaction | null = null
  const record = (sql: string, values: readonly unknown[], did: number) => open?.statements.push({ sql, values: values.map(bindLikeAdapter), did })
  Object.assign(direct, {
    transaction<T>(work: (tx: SqliteDirectConnection) => { commit: boolean; value: T }): T {
      open = { statements: [], commit: true }
      current.push(open)
      return original.transaction.call(direct, (tx) => {
        const result = work(tx)
        open!.commit = result.commit
        return result
      }) as T
    },
    query(sql: string, values: readonly unknown[]) {
      const rows = original.query.call(direct, sql, values)
      record(sql, values, rows.length)
      return rows
    },
    changes(sql: string, values: readonly unknown[]) {
      const changed = original.changes.call(direct, sql, values)
      record(sql, values, changed)
      return changed
    },
  })
  try {
    for (let i = 0; i < calls; i++) {
      current = []
      open = null
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
        begin.run()
        for (const s of tx.statements) {
          const stmt = prepare(s.sql)
          const did = stmt.reader ? stmt.all(s.values).length : stmt.run(s.values).changes
          if (did !== s.did) diverged++
        }
        ;(tx.commit ? commit : rollback).run()
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
