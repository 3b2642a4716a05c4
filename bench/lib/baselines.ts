/**
 * The designs we measure ourselves against, written the way an app would write them with Prisma
 * (bench-only code, never shipped):
 *  (a) SUM-per-check — aggregate the ledger for the day and month before each call, then record;
 *  (b) check-then-record counters — RubyLLM::Agents' design: read counters, call, then increment.
 * Both are check-then-act: under concurrency they admit calls past the limit.
 */
import { randomUUID } from 'node:crypto'
import { bucketRange, buckets } from '../../src/ledger/counters/keys.ts'
import type { TestClient } from '../../test/support/databases.ts'

export class Refused extends Error {}

export interface BaselineCall {
  tenantId: string
  limitNanos: bigint
  costNanos: bigint
  now: Date
  provider: () => Promise<void>
}

function row(c: BaselineCall) {
  return {
    id: randomUUID(),
    tenantId: c.tenantId,
    agentType: 'Bench',
    model: 'm',
    provider: 'openai',
    status: 'success',
    inputTokens: 10,
    outputTokens: 5,
    totalTokens: 15,
    inputCostNanos: c.costNanos,
    outputCostNanos: 0n,
    totalCostNanos: c.costNanos,
    durationMs: 0,
    startedAt: c.now,
    completedAt: c.now,
  }
}

/** Tenant day + month and, with `global`, the global day + month (all tenants) — like our checks. */
export async function sumPerCheck(prisma: TestClient, c: BaselineCall & { global?: boolean }): Promise<void> {
  const b = buckets(c.now, 'UTC')
  for (const scope of c.global ? [c.tenantId, null] : [c.tenantId]) {
    for (const [period, bucket] of [
      ['day', b.day],
      ['month', b.month],
    ] as const) {
      const { from, to } = bucketRange(period, bucket, 'UTC')
      const where = scope === null ? { startedAt: { gte: from, lt: to } } : { tenantId: scope, startedAt: { gte: from, lt: to } }
      const agg = await prisma.llmExecution.aggregate({ where, _sum: { totalCostNanos: true } })
      if ((agg._sum.totalCostNanos ?? 0n) + c.costNanos > c.limitNanos * (scope === null ? 1_000n : 1n)) throw new Refused()
    }
  }
  await c.provider()
  await prisma.llmExecution.create({ data: row(c) })
}

export async function checkThenRecord(prisma: TestClient, c: BaselineCall): Promise<void> {
  const b = buckets(c.now, 'UTC')
  const keys = [
    { period: 'day', bucket: b.day },
    { period: 'month', bucket: b.month },
  ]
  const counters = await prisma.llmBudgetCounter.findMany({
    where: { scope: 'baseline', tenantId: c.tenantId, agentType: '', OR: keys },
  })
  for (const counter of counters) if (counter.spentCostNanos + c.costNanos > c.limitNanos) throw new Refused()
  await c.provider()
  await prisma.llmExecution.create({ data: row(c) })
  for (const k of keys) {
    await prisma.llmBudgetCounter.upsert({
      where: { scope_tenantId_agentType_period_bucket: { scope: 'baseline', tenantId: c.tenantId, agentType: '', ...k } },
      create: { scope: 'baseline', tenantId: c.tenantId, agentType: '', ...k, spentCostNanos: c.costNanos, spentExecutions: 1n },
      update: { spentCostNanos: { increment: c.costNanos }, spentExecutions: { increment: 1n } },
    })
  }
}
