/**
 * Regression tests for "expired holds: the rule was implicit". `holdExpiry: 'release'` (default)
 * voids a crashed holder's reservation and counts one execution with no usage; `'charge'` charges
 * the reserved cost and tokens. Both with a SIGKILLed child holding the reservation, on both
 * databases; and a settle arriving after expiry replaces the timeout with the real outcome once,
 * whatever expiry recorded.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { InvalidArgumentError, LlmBudgets, TenantStore, createLedger, defineLlmConfig } from '../../src/index.ts'

const root = new URL('../..', import.meta.url).pathname
const TTL = 1200

/** test/support/crash-holder.ts: admitted for $1 and 100 tokens, then hangs until killed. */
function crashHolder(kind: string, location: string, tenant: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/crash-holder.ts'), kind, location, tenant, String(TTL)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const admitted = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ADMITTED') && resolve())
    child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)))
  })
  return { child, admitted }
}

describe.each(DATABASES)('expired holds on %s', (kind) => {
  const db = useDatabase(kind)

  it.each([
    { mode: 'release' as const, cost: '0', tokens: 0 },
    { mode: 'charge' as const, cost: '1', tokens: 100 },
  ])(
    'holdExpiry: $mode — a SIGKILLed holder’s hold expires into one timeout costing $cost',
    async ({ mode, cost, tokens }) => {
      const tenant = `crash-${mode}`
      await new TenantStore(db().client).upsert({ tenantId: tenant, limits: { dailyCost: '10' }, enforcement: 'hard' })
      const holder = crashHolder(kind, db().location, tenant)
      await holder.admitted
      holder.child.kill('SIGKILL')
      const sweeper = new LlmBudgets(db().client, { holdExpiry: mode })
      expect((await sweeper.status(tenant)).limits.dailyCost.reserved.toString()).toBe('1')
      await new Promise((r) => setTimeout(r, TTL + 300))
      expect(await sweeper.releaseExpiredHolds()).toBe(1)
      expect(await sweeper.releaseExpiredHolds()).toBe(0)
      const [row] = await createLedger(db().client).recentExecutions({ tenantId: tenant, limit: 5 })
      expect(row).toMatchObject({ status: 'timeout', errorClass: 'HoldExpiredError', totalTokens: tokens })
      expect(row.totalCost.toFixed()).toBe(cost)
      const status = await sweeper.status(tenant)
      expect(status.limits.dailyCost.used.toString()).toBe(cost)
      expect(status.limits.dailyCost.reserved.toString()).toBe('0')
      expect(status.limits.dailyTokens.used).toBe(tokens)
      expect(status.limits.dailyExecutions.used).toBe(1)
      expect(status.limits.maxConcurrent.used).toBe(0)
      expect(await sweeper.refreshCounters()).toMatchObject({ changed: 0 })
    },
    60_000,
  )

  it.each(['release', 'charge'] as const)('holdExpiry: %s — a settle after expiry records the real outcome once', async (mode) => {
    const tenant = `late-${mode}`
    const b = new LlmBudgets(db().client, { holdTtlMs: 50, holdExpiry: mode })
    let release!: () => void
    const slow = b.track(tenant, { agentType: 'Slow', model: 'm', estimate: { cost: '0.5', tokens: 40 } }, async (c) => {
      await new Promise<void>((r) => (release = r))
      c.reportUsage({ inputCost: '0.125', inputTokens: 7 })
    })
    await new Promise((r) => setTimeout(r, 150))
    expect(await b.releaseExpiredHolds()).toBe(1)
    const expired = (await b.status(tenant)).limits
    expect(expired.dailyCost.used.toString()).toBe(mode === 'charge' ? '0.5' : '0')
    release()
    await slow
    const [row] = await createLedger(db().client).recentExecutions({ tenantId: tenant, limit: 5 })
    expect(row).toMatchObject({ status: 'success', totalTokens: 7 })
    expect(row.totalCost.toFixed()).toBe('0.125')
    const settled = (await b.status(tenant)).limits
    expect([settled.dailyCost.used.toString(), settled.dailyTokens.used, settled.dailyExecutions.used]).toEqual(['0.125', 7, 1])
    expect(await b.refreshCounters()).toMatchObject({ changed: 0 })
  })

  it('holdExpiry accepts only release or charge', () => {
    expect(() => defineLlmConfig({ holdExpiry: 'bill' as never })).toThrow(InvalidArgumentError)
    expect(() => defineLlmConfig({ holdExpiry: 'bill' as never })).toThrow(/config\.holdExpiry.*'release' or 'charge'/)
  })
})
