import { describe, expect, it } from 'vitest'
import { DATABASES, tableCounts, useDatabase } from '../support/databases.ts'
import { createLedger, Decimal, LlmBudgets, InvalidArgumentError, type RecordExecutionInput } from '../../src/index.ts'

const NOW = new Date('2026-11-22T10:00:00.000Z')
const base: RecordExecutionInput = { tenantId: 'acme', agentType: 'SupportAgent', model: 'gpt-4o-mini', provider: 'openai' }

describe.each(DATABASES)('recording executions on %s', (kind) => {
  const db = useDatabase(kind)
  const ledger = () => createLedger(db().client, { now: () => NOW })

  it('fills defaults: status success, totals, completedAt from duration', async () => {
    const rec = await ledger().recordExecution({
      ...base,
      inputTokens: 1200,
      outputTokens: 300,
      cachedInputTokens: 200,
      inputCost: '0.00018',
      outputCost: new Decimal('0.00018'),
      durationMs: 850,
      startedAt: new Date('2026-11-22T09:59:00.000Z'),
    })
    expect(rec.status).toBe('success')
    expect(rec.totalTokens).toBe(1500)
    expect(rec.totalCost.toFixed()).toBe('0.00036')
    expect(rec.completedAt?.toISOString()).toBe('2026-11-22T09:59:00.850Z')
    const [row] = await db().rawQuery<Record<string, unknown>>(
      `SELECT total_cost_nanos, input_cost_nanos FROM llm_executions WHERE id = ${kind === 'sqlite' ? '?' : '$1'}`,
      [rec.id],
    )
    expect(String(row.total_cost_nanos)).toBe('360000')
    expect(String(row.input_cost_nanos)).toBe('180000')
  })

  it('records calls without a tenant and running executions without completedAt', async () => {
    const rec = await ledger().recordExecution({ agentType: 'Batch', model: 'claude-haiku', status: 'running' })
    expect(rec.tenantId).toBeNull()
    expect(rec.completedAt).toBeNull()
    expect(rec.durationMs).toBeNull()
  })

  it('redacts credential-shaped metadata keys and key-shaped values before the write', async () => {
    const canary = 'sk-proj-CANARY1234567890abcdef'
    const rec = await ledger().recordExecution({
      ...base,
      errorMessage: `401 Incorrect API key provided: ${canary}`,
      metadata: {
        apiKey: canary,
        nested: { Authorization: 'Bearer abc', password: 'hunter2', maxTokens: 5 },
        note: `key ${canary}`,
        list: [{ secret_value: 'x' }],
      },
    })
    expect(rec.metadata).toEqual({
      apiKey: '[REDACTED]',
      nested: { Authorization: '[REDACTED]', password: '[REDACTED]', maxTokens: 5 },
      note: 'key [REDACTED]',
      list: [{ secret_value: '[REDACTED]' }],
    })
    const rows = await db().rawQuery<Record<string, unknown>>('SELECT * FROM llm_executions')
    expect(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('CANARY')
    expect(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('hunter2')
  })

  it('regression: a backfilled row started weeks ago does not overflow duration_ms', async () => {
    const rec = await ledger().recordExecution({ ...base, startedAt: new Date('2026-09-01T00:00:00Z') })
    expect(rec.completedAt?.toISOString()).toBe(NOW.toISOString())
    expect(rec.durationMs).toBeNull()
  })

  it('rounds sub-nano amounts half-up to whole nano-USD, and keeps large amounts exact', async () => {
    const a = await ledger().recordExecution({ ...base, inputCost: '0.0000000015', outputCost: '0.0000000014' })
    expect(a.inputCost.toFixed()).toBe('0.000000002')
    expect(a.outputCost.toFixed()).toBe('0.000000001')
    const big = await ledger().recordExecution({ ...base, inputCost: '9123456789.123456789' })
    expect(big.totalCost.toFixed()).toBe('9123456789.123456789')
  })

  it.each<[string, Partial<RecordExecutionInput> | Record<string, unknown>, string]>([
    ['non-integer tokens', { inputTokens: 1.5 }, 'inputTokens'],
    ['negative tokens', { outputTokens: -1 }, 'outputTokens'],
    ['NaN tokens', { cachedInputTokens: Number.NaN }, 'cachedInputTokens'],
    ['huge tokens', { totalTokens: 2 ** 40 }, 'totalTokens'],
    ['string tokens', { inputTokens: '12' }, 'inputTokens'],
    ['negative cost', { inputCost: -0.01 }, 'inputCost'],
    ['infinite cost', { outputCost: Number.POSITIVE_INFINITY }, 'outputCost'],
    ['non-numeric cost', { totalCost: 'ten dollars' }, 'totalCost'],
    ['unknown status', { status: 'done' }, 'status'],
    ['empty agent type', { agentType: '' }, 'agentType'],
    ['missing model', { model: undefined }, 'model'],
    ['tenant as number', { tenantId: 42 }, 'tenantId'],
    ['invalid startedAt', { startedAt: new Date('nope') }, 'startedAt'],
    ['completedAt before startedAt', { startedAt: NOW, completedAt: new Date(NOW.getTime() - 1) }, 'completedAt'],
    ['metadata array', { metadata: [1, 2] }, 'metadata'],
    ['unknown key', { costUsd: 1 }, 'costUsd'],
  ])('rejects %s with a typed error naming the field, writing nothing', async (_name, patch, field) => {
    const before = await tableCounts(db())
    const err = await ledger()
      .recordExecution({ ...base, ...patch } as RecordExecutionInput)
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).field).toBe(field)
    expect((err as Error).message).toContain(field)
    expect((err as Error).message).toMatch(/Allowed: /)
    expect(await tableCounts(db())).toEqual(before)
  })

  it('recordExecutions is all-or-nothing: one bad row writes none', async () => {
    const before = await tableCounts(db())
    const inputs: RecordExecutionInput[] = [{ ...base }, { ...base, inputTokens: -5 }]
    await expect(ledger().recordExecutions(inputs)).rejects.toThrow(/executions\[1\]|inputTokens/)
    expect(await tableCounts(db())).toEqual(before)
  })

  it("regression: recordExecutions touching thousands of counter rows failed on SQLite ('too many terms in compound SELECT', 'Expression tree is too large')", async () => {
    // 1,100 tenants on two days: a day and a month counter row per tenant and more. Before the
    // statements were chunked, one UNION ALL term per row passed SQLite's 500 terms per compound
    // SELECT (applyDeltas), and one OR term per key its expression depth of 1,000 (readCounters).
    const inputs: RecordExecutionInput[] = Array.from({ length: 2200 }, (_, i) => ({
      ...base,
      tenantId: `wide-${i % 1100}`,
      inputCost: '0.001',
      inputTokens: 1,
      startedAt: new Date(i < 1100 ? '2026-11-20T12:00:00.000Z' : '2026-11-21T12:00:00.000Z'),
    }))
    expect(await ledger().recordExecutions(inputs)).toBe(2200)
    expect((await ledger().cost({ tenantId: 'wide-7', period: 'this_month' })).toFixed()).toBe('0.002')
    // The counters took every row exactly once: a refresh from the ledger changes nothing.
    expect((await new LlmBudgets(db().client, { now: () => NOW }).refreshCounters()).changed).toBe(0)
  }, 120_000)

  it('money is exact: 100,000 executions of $0.000000075 cost exactly $0.0075', async () => {
    const startedAt = new Date('2026-10-15T12:00:00.000Z')
    const batch: RecordExecutionInput[] = Array.from({ length: 10_000 }, () => ({
      tenantId: 'penny',
      agentType: 'Tiny',
      model: 'nano',
      inputCost: 0.000000075,
      inputTokens: 1,
      startedAt,
    }))
    for (let i = 0; i < 10; i++) expect(await ledger().recordExecutions(batch)).toBe(10_000)
    const summary = await ledger().usageSummary({ tenantId: 'penny', period: 'last_month' })
    expect(summary.executions).toBe(100_000)
    expect(summary.tokens).toBe(100_000)
    expect(summary.cost.toFixed()).toBe('0.0075')
    expect(summary.cost.equals(new Decimal('0.0075'))).toBe(true)
    // The float sum a naive implementation would produce is not exact:
    let float = 0
    for (let i = 0; i < 100_000; i++) float += 0.000000075
    expect(float).not.toBe(0.0075)
  }, 180_000)
})
