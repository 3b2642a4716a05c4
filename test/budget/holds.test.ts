/** Holds: expiry of a crashed holder's reservation, exactly-once settle, release on error/cancel. */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATABASES, openDatabase, useDatabase } from '../support/databases.ts'
import { AdmissionError, LlmBudgets, TenantStore, createLedger } from '../../src/index.ts'
import { settle } from '../../src/budget/settle.ts'

const root = new URL('../..', import.meta.url).pathname

function startCrashHolder(kind: string, location: string, tenant: string, ttlMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/crash-holder.ts'), kind, location, tenant, String(ttlMs)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const admitted = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ADMITTED') && resolve())
    child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)))
  })
  return { child, admitted }
}

describe.each(DATABASES)('holds on %s', (kind) => {
  const db = useDatabase(kind)

  it('a crashed holder’s reservation expires: the slot frees, the row becomes a timeout, counters == ledger', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'crashy', maxConcurrent: 1, limits: { dailyCost: '1.5' }, enforcement: 'hard' })
    const holder = startCrashHolder(kind, db().location, 'crashy', 1500)
    await holder.admitted
    holder.child.kill('SIGKILL')
    const b = new LlmBudgets(db().client)
    // Still held: refused (in flight 1 of 1, and $1 of $1.5 reserved).
    await expect(b.track('crashy', { agentType: 'A', model: 'm', estimate: { cost: '1' } }, async () => 1)).rejects.toMatchObject({ tenantId: 'crashy' })
    await new Promise((r) => setTimeout(r, 1700))
    expect(await b.track('crashy', { agentType: 'A', model: 'm', estimate: { cost: '1' } }, async (c) => c.reportUsage({ inputCost: '1' }))).toBeUndefined()
    const rows = await createLedger(db().client).recentExecutions({ tenantId: 'crashy', limit: 10 })
    expect(rows.map((r) => [r.agentType, r.status, r.errorClass])).toEqual([
      ['A', 'success', null],
      ['Crasher', 'timeout', 'HoldExpiredError'],
    ])
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  }, 60_000)

  it('settle is exactly once; a late settle after expiry records the real cost once', async () => {
    const b = new LlmBudgets(db().client, { holdTtlMs: 50 })
    let id = ''
    await b.track('once', { agentType: 'A', model: 'm', estimate: { cost: '0.5' } }, async (c) => {
      id = c.executionId
      c.reportUsage({ inputCost: '0.25' })
    })
    const outcome = {
      status: 'success' as const,
      model: 'm',
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      totalTokens: 0,
      inputCostNanos: 1n,
      outputCostNanos: 0n,
      totalCostNanos: 1n,
      completedAt: new Date(),
      durationMs: 1,
      errorClass: null,
      errorMessage: null,
      metadata: null,
    }
    const again = await settle(db().client as never, b.provider, id, outcome, 'UTC', new Date())
    expect(again.settled).toBe(false)
    expect((await createLedger(db().client).cost({ tenantId: 'once', period: 'today' })).toFixed()).toBe('0.25')

    // A holder that outlives its hold: expiry turns it into a timeout, its own settle then records the usage once.
    let release!: () => void
    const slow = b.track('once', { agentType: 'Slow', model: 'm', estimate: { cost: '0.5' } }, async (c) => {
      await new Promise<void>((r) => (release = r))
      c.reportUsage({ inputCost: '0.125' })
    })
    await new Promise((r) => setTimeout(r, 150))
    expect(await b.releaseExpiredHolds()).toBe(1)
    release()
    await slow
    const rows = await createLedger(db().client).recentExecutions({ tenantId: 'once', limit: 5 })
    expect(rows[0]).toMatchObject({ agentType: 'Slow', status: 'success' })
    expect((await createLedger(db().client).cost({ tenantId: 'once', period: 'today' })).toFixed()).toBe('0.375')
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('errors, timeouts and cancellations release the hold and record what was consumed', async () => {
    const b = new LlmBudgets(db().client)
    await expect(
      b.track('rel', { agentType: 'A', model: 'm', estimate: { cost: '2' } }, async (c) => {
        c.reportUsage({ inputTokens: 100, outputTokens: 7, inputCost: '0.01', outputCost: '0.002' }) // a stream cut mid-way
        const e = new Error('socket hang up')
        e.name = 'APIConnectionError'
        throw e
      }),
    ).rejects.toThrow('socket hang up')
    const ctrl = new AbortController()
    await expect(
      b.track('rel', { agentType: 'A', model: 'm', estimate: { cost: '2' }, signal: ctrl.signal }, async () => {
        ctrl.abort()
        throw new DOMException('This operation was aborted', 'AbortError')
      }),
    ).rejects.toThrow(/aborted/)
    await expect(
      b.track('rel', { agentType: 'A', model: 'm', estimate: { cost: '2' } }, async () => {
        throw Object.assign(new Error('timed out'), { name: 'TimeoutError' })
      }),
    ).rejects.toThrow('timed out')
    const rows = await createLedger(db().client).recentExecutions({ tenantId: 'rel', limit: 5 })
    expect(rows.map((r) => r.status).sort()).toEqual(['cancelled', 'error', 'timeout'])
    const failed = rows.find((r) => r.status === 'error')!
    expect(failed).toMatchObject({ errorClass: 'APIConnectionError', errorMessage: 'socket hang up', inputTokens: 100, outputTokens: 7 })
    expect(failed.totalCost.toFixed()).toBe('0.012')
    const holds = await db().rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM llm_budget_holds WHERE tenant_id = 'rel'`)
    expect(Number(holds[0].n)).toBe(0)
    expect((await b.status('rel')).limits.dailyCost.reserved.toString()).toBe('0')
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('a call that never reports usage is charged its reservation (no bypass)', async () => {
    const b = new LlmBudgets(db().client)
    await b.track('silent', { agentType: 'A', model: 'm', estimate: { cost: '0.3', tokens: 40 } }, async () => 'no report')
    const [row] = await createLedger(db().client).recentExecutions({ tenantId: 'silent', limit: 1 })
    expect(row.totalCost.toFixed()).toBe('0.3')
    expect(row.totalTokens).toBe(40)
    expect(row.metadata).toEqual({ usageReported: false })
  })

  it('a database error during admission fails closed (AdmissionError), and the provider is not called', async () => {
    const broken = await openDatabase(kind, { applySchema: false })
    try {
      const b = new LlmBudgets(broken.client)
      let called = false
      await expect(b.track('x', { agentType: 'A', model: 'm' }, async () => void (called = true))).rejects.toBeInstanceOf(AdmissionError)
      expect(called).toBe(false)
      const open = new LlmBudgets(broken.client, { failMode: 'open' })
      expect(await open.track('x', { agentType: 'A', model: 'm' }, async () => 'ran anyway')).toBe('ran anyway')
    } finally {
      await broken.close()
    }
  })
})
