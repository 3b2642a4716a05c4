/**
 * The day rollup (src/ledger/usage-days.ts) on SQLite and PostgreSQL: what it returns always equals
 * a grouped read of the ledger itself — for stored days, open days and days the range clips —
 * days that are not over (or still hold a running row) are never stored, an older row recorded
 * through the ledger deletes the stored day it lands in (so the next read is exact again), and
 * forgetAllUsageDays only costs a recompute. Regressions: a late settle of an expired hold, and a
 * refusal recorded with an older instant, delete the stored day they land in; on SQLite a day is
 * stored while another connection writes an older row (no SQLITE_BUSY).
 */
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { createLedger, LlmBudgets } from '../../src/index.ts'
import { detectProvider } from '../../src/db/client.ts'
import { dayKey } from '../../src/foundation/periods.ts'
import { forgetAllUsageDays, usageDays, type UsageDayRow } from '../../src/ledger/usage-days.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'

const ZONE = 'America/New_York'
const DAY = 86_400_000

/** Sums per status over the rows, as text (bigints compare exactly). */
function totals(rows: Array<Pick<UsageDayRow, 'status' | 'costNanos' | 'executions'>>): Record<string, string> {
  const out: Record<string, bigint> = {}
  for (const r of rows) {
    out[`${r.status}:cost`] = (out[`${r.status}:cost`] ?? 0n) + r.costNanos
    out[`${r.status}:n`] = (out[`${r.status}:n`] ?? 0n) + r.executions
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.toString()]))
}

describe.each(DATABASES)('the day rollup on %s', (kind) => {
  const db = useDatabase(kind)
  const now = new Date()
  const range = { from: new Date(now.getTime() - 20 * DAY), to: now, timeZone: ZONE }

  async function fromLedger(): Promise<Record<string, string>> {
    const groupBy = db().client.llmExecution.groupBy as unknown as (args: unknown) => Promise<unknown>
    const groups = (await groupBy({
      by: ['status'],
      where: { startedAt: { gte: range.from, lt: range.to } },
      _sum: { totalCostNanos: true },
      _count: { _all: true },
    })) as Array<{ status: string; _sum: { totalCostNanos: unknown }; _count: { _all: number } }>
    return totals(groups.map((g) => ({ status: g.status, costNanos: BigInt(String(g._sum.totalCostNanos ?? 0)), executions: BigInt(g._count._all) })))
  }
  const stored = async () => Number((await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_usage_days WHERE status = '*'`))[0].n)
  const read = () => usageDays(db().client, detectProvider(db().client), range, now)

  it('equals the ledger, stores only days that are over, and stays exact when an older row is recorded', async () => {
    const ledger = createLedger(db().client, { timeZone: ZONE })
    await ledger.recordExecutions(
      Array.from({ length: 60 }, (_, i) => ({
        tenantId: i % 3 === 0 ? null : `t-${i % 4}`,
        agentType: i % 2 ? 'a' : 'b',
        model: 'm',
        status: i % 7 === 0 ? ('error' as const) : i % 11 === 0 ? ('refused' as const) : ('success' as const),
        inputCost: i % 11 === 0 ? '0' : `0.${String(i + 1).padStart(3, '0')}`,
        startedAt: new Date(now.getTime() - i * 7.5 * 3_600_000),
        durationMs: 10,
      })),
    )
    // A running row four days ago: its day is not over until it settles.
    await ledger.recordExecution({ tenantId: 't-1', agentType: 'a', model: 'm', status: 'running', startedAt: new Date(now.getTime() - 4 * DAY) })
    expect(totals(await read())).toEqual(await fromLedger())
    const days = await stored()
    expect(days).toBeGreaterThan(10)
    expect(days).toBeLessThan(21) // not today, not yesterday within the margin, not the clipped first day, not the running one
    const storedDays = (await db().rawQuery<{ day: string }>(`SELECT day FROM llm_usage_days WHERE status = '*'`)).map((r) => r.day)
    expect(storedDays).not.toContain(dayKey(new Date(now.getTime() - 4 * DAY), ZONE))
    expect(storedDays).not.toContain(dayKey(now, ZONE))
    expect(storedDays).toContain(dayKey(new Date(now.getTime() - 10 * DAY), ZONE))
    expect(totals(await read())).toEqual(await fromLedger()) // now from the stored days

    await ledger.recordExecution({ tenantId: 't-2', agentType: 'a', model: 'm', inputCost: '12.345678901', startedAt: new Date(now.getTime() - 9 * DAY) })
    expect(await stored()).toBe(days - 1) // its day was deleted in the same transaction
    expect(totals(await read())).toEqual(await fromLedger())
    expect(await stored()).toBe(days) // and stored again, with the new row

    await forgetAllUsageDays(db().client)
    expect(await stored()).toBe(0)
    expect(totals(await read())).toEqual(await fromLedger())
  })

  it('late settle went stale: a settle after its hold expired into a stored day deletes that day', async () => {
    // The fake clock admits the call in a past day: that day must not be stored yet (in real time,
    // admission writes at the current instant, in an open day).
    await forgetAllUsageDays(db().client)
    let t = now.getTime() - 3 * DAY
    const b = new LlmBudgets(db().client, { holdTtlMs: 50, timeZone: ZONE, now: () => new Date(t) })
    let release: (() => void) | undefined
    const slow = b.track('late-t', { agentType: 'late', model: 'm-late', estimate: { cost: '0.5', tokens: 40 } }, async (c) => {
      await new Promise<void>((r) => (release = r))
      c.reportUsage({ inputCost: '0.125', inputTokens: 7 })
    })
    while (!release) await new Promise((r) => setTimeout(r, 10))
    t += 60_000 // the hold expires
    expect(await b.releaseExpiredHolds()).toBe(1)
    t = now.getTime() // three days later: the day is over and gets stored
    const day = dayKey(new Date(now.getTime() - 3 * DAY), ZONE)
    expect(totals(await read())).toEqual(await fromLedger())
    const marker = async () => (await db().rawQuery<{ day: string }>(`SELECT day FROM llm_usage_days WHERE status = '*'`)).map((r) => r.day)
    expect(await marker()).toContain(day)
    release()
    await slow // settles late: the timeout row becomes a success of $0.125
    const [row] = await createLedger(db().client).recentExecutions({ tenantId: 'late-t', limit: 1 })
    expect(row).toMatchObject({ status: 'success', model: 'm-late', totalTokens: 7 })
    expect(await marker()).not.toContain(day)
    const after = totals(await read())
    expect(after).toEqual(await fromLedger())
    expect(after['timeout:n']).toBeUndefined()
  })

  it('old refusal skipped invalidation: a refusal recorded with an older instant deletes the stored day', async () => {
    const b = new LlmBudgets(db().client, { timeZone: ZONE })
    expect(totals(await read())).toEqual(await fromLedger()) // stores the days that are over
    const at = new Date(now.getTime() - 6 * DAY)
    const before = await stored()
    await b.recordRefusal({ tenantId: 't-3', agentType: 'a', model: 'm', at }, new Error('refused in the test'))
    expect(await stored()).toBe(before - 1)
    const after = totals(await read())
    expect(after).toEqual(await fromLedger())
    expect(Number(after['refused:n'])).toBeGreaterThan(0)
  })

  it.runIf(kind === 'sqlite')('storeDay busy: a day is stored while another process writes an older row', async () => {
    await forgetAllUsageDays(db().client)
    // Another process takes the write lock, changes an old row and deletes stored days (what a
    // backdated write does), and commits 300 ms later, while this process computes and stores days.
    const script = `const db = new (require('better-sqlite3'))(process.argv[1]);
      db.exec('BEGIN IMMEDIATE');
      db.exec("UPDATE llm_executions SET total_cost_nanos = total_cost_nanos + 1000 WHERE id = (SELECT id FROM llm_executions WHERE status = 'success' ORDER BY started_at DESC LIMIT 1 OFFSET 20)");
      db.exec('DELETE FROM llm_usage_days');
      console.log('LOCKED');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);`
    const child = spawn(process.execPath, ['-e', script, db().location], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('LOCKED') && resolve()))
    const rows = await read()
    await new Promise((r) => child.on('exit', r))
    expect(totals(rows)).toEqual(await fromLedger())
    expect(await stored()).toBeGreaterThan(10)
    expect(totals(await read())).toEqual(await fromLedger())
  })
})
