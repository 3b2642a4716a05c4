/**
 * Regression tests for "out-of-range usage is accepted and then never settles": costs valid one by
 * one whose sum passes the 64-bit nano-dollar range are refused when they are reported or recorded,
 * with InvalidArgumentError — never a call stuck `running` with its hold open, a RangeError (SQLite)
 * or a raw 22003 (PostgreSQL).
 */
import { describe, expect, it } from 'vitest'
import { DATABASES, tableCounts, useDatabase } from '../support/databases.ts'
import { InvalidArgumentError, LlmBudgets, createLedger } from '../../src/index.ts'

const HALF = '5000000000' // $5 billion: valid alone; two of them pass 2^63 − 1 nano-dollars

describe.each(DATABASES)('out-of-range usage on %s', (kind) => {
  const db = useDatabase(kind)

  it('reportUsage with input and output costs summing past the range throws InvalidArgumentError at once; the call still settles', async () => {
    const b = new LlmBudgets(db().client)
    let thrown: unknown
    await expect(
      b.track('huge', { agentType: 'A', model: 'm' }, async (c) => {
        try {
          c.reportUsage({ inputCost: HALF, outputCost: HALF })
        } catch (err) {
          thrown = err
          throw err
        }
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(thrown).toBeInstanceOf(InvalidArgumentError)
    expect((thrown as InvalidArgumentError).field).toBe('usage.outputCost')
    expect((thrown as Error).message).toMatch(/at most \$9223372036\.854775807/)
    // The call ended as an error (charged its reservation, $0 here), its hold released: nothing pending.
    const [row] = await createLedger(db().client).recentExecutions({ tenantId: 'huge', limit: 1 })
    expect(row).toMatchObject({ status: 'error', errorClass: 'InvalidArgumentError' })
    expect(b.pendingSettles).toBe(0)
    expect(await db().rawQuery(`SELECT id FROM llm_budget_holds`)).toEqual([])
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('recordExecutions rows whose day total passes the range: InvalidArgumentError, nothing written', async () => {
    const ledger = createLedger(db().client)
    const before = await tableCounts(db())
    const rows = [
      { tenantId: 'big', agentType: 'A', model: 'm', inputCost: HALF },
      { tenantId: 'big', agentType: 'A', model: 'm', inputCost: HALF },
    ]
    const err = await ledger.recordExecutions(rows).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe('executions')
    expect(await tableCounts(db())).toEqual(before)
    // One row alone fits; a second one later would overflow the counter that holds the first.
    await ledger.recordExecutions([rows[0]])
    const after = await tableCounts(db())
    const second = await ledger.recordExecutions([rows[1]]).catch((e: unknown) => e)
    expect(second).toBeInstanceOf(InvalidArgumentError)
    expect((second as Error).message).toMatch(/at most \$9223372036\.854775807 per tenant and day or month/)
    expect(await tableCounts(db())).toEqual(after)
    expect((await ledger.cost({ tenantId: 'big', period: 'today' })).toFixed()).toBe(HALF)
    expect(await new LlmBudgets(db().client).refreshCounters({ tenantId: 'big' })).toMatchObject({ changed: 0 })
  })
})
