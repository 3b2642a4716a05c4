/**
 * The usage ledger: record executions, and query cost / tokens / counts for a tenant (or all
 * tenants, or calls without a tenant) over a period computed in the configured zone.
 */
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { MAX_NANOS, nanosToUsd, toNanos, type Decimal } from '../foundation/money.js'
import type { PeriodInput } from '../foundation/periods.js'
import { usageByDay } from './by-day.js'
import { topTenantsBySpendSqlite } from './top-tenants.js'
import { insertExecutionRows } from './insert.js'
import { forgetUsageDays } from './usage-days.js'
import { applyDeltas, ensureCounterRows } from './counters/statements.js'
import { recordedRowDeltas } from './counters/spend.js'
import { toExecutionRecord, toExecutionRow, type ExecutionRow } from './record.js'
import { resolveScope, scopeWhere, type PeriodQuery, type TenantScope } from './scope.js'
import { FAILED_STATUSES, type ExecutionRecord, type RecordExecutionInput, type TenantSpend, type UsageFigures, type UsageSummary } from './types.js'
import { assertLimit, assertQuery } from '../foundation/validation.js'
import type { RawRunner } from '../db/client.js'

type Aggregate = { _sum: { totalCostNanos?: unknown; totalTokens?: unknown }; _count: { _all: number } }
type Grouped = Aggregate & Record<string, unknown>

export interface ListQuery {
  /** Tenant id; `null` = executions without a tenant; omitted = all executions. */
  tenantId?: TenantScope
  /** Optional period; omitted = all time. */
  period?: PeriodInput
  /** Default 20, at most 10,000. */
  limit?: number
  /** List `refused` rows too (default false; `refusedExecutions` lists only them). */
  includeRefused?: boolean
}

export interface ExecutionsQuery extends Omit<ListQuery, 'tenantId'> {
  /** `'with'` = only calls made with a tenant, `'without'` = only without, `{ id }` = that tenant. */
  tenant?: 'with' | 'without' | { id: string }
}

export class LlmLedger {
  readonly config: LlmConfig
  readonly provider: SqlProvider
  private readonly client: LlmPrismaClient

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.config = toConfig(config)
    this.provider = detectProvider(client)
  }

  /**
   * Records one execution (a call the app made itself) and adds it to the budget counters in the
   * same transaction. Validates everything first: bad input throws and writes nothing.
   */
  async recordExecution(input: RecordExecutionInput): Promise<ExecutionRecord> {
    const row = toExecutionRow(input, this.config.now())
    await this.write([row])
    return toExecutionRecord(row as unknown as Record<string, unknown>)
  }

  /**
   * Records many executions atomically (every input is validated before anything is written).
   * Returns the number written.
   */
  async recordExecutions(inputs: readonly RecordExecutionInput[]): Promise<number> {
    if (!Array.isArray(inputs)) throw new InvalidArgumentError('executions', 'an array of executions', inputs)
    const now = this.config.now()
    const rows = inputs.map((input, i) => toExecutionRow(input, now, `executions[${i}]`))
    if (rows.length === 0) return 0
    return this.write(rows)
  }

  private async write(rows: ExecutionRow[]): Promise<number> {
    const now = this.config.now()
    const deltas = recordedRowDeltas(this.config, rows)
    // Rows valid one by one can still overflow a counter (a day's or month's total is one BIGINT):
    // refused as bad input before anything is written, not as a driver error after.
    const overflowAllowed = `executions whose costs add up to at most $${nanosToUsd(MAX_NANOS).toFixed()} per tenant and day or month`
    const over = deltas.find((d) => (d.spentCost ?? 0n) > MAX_NANOS)
    if (over)
      throw new InvalidArgumentError('executions', overflowAllowed, `a total of $${nanosToUsd(over.spentCost).toFixed()} in ${over.key[3]} ${over.key[4]}`)
    try {
      return await this.writeInTransaction(rows, deltas, now)
    } catch (err) {
      // The sum with what a counter already holds overflowed (PostgreSQL 22003; SQLite turns the
      // integer into a float, which reading the row back refuses): the transaction rolled back.
      if (/22003|out of range|unsafe integer/i.test(`${(err as Error)?.message} ${(err as { code?: unknown })?.code}`)) {
        throw new InvalidArgumentError('executions', overflowAllowed, 'totals past that with the counters recorded so far')
      }
      throw err
    }
  }

  private async writeInTransaction(rows: ExecutionRow[], deltas: ReturnType<typeof recordedRowDeltas>, now: Date): Promise<number> {
    return (await this.client.$transaction(
      async (tx: RawRunner) => {
        // The tenant's rows are always maintained (created here if new, from the ledger — so before
        // this insert); other scopes' rows are updated where they exist (where a limit applies).
        const tenantKeys = deltas.map((d) => d.key).filter((k) => k[0] === 'tenant')
        await ensureCounterRows(tx, this.provider, tenantKeys, now, this.config.timeZone)
        const count = await insertExecutionRows(tx, this.provider, rows, now)
        // Older rows may land in a day the day rollup already stored: it is deleted (rebuilt when read).
        await forgetUsageDays(
          tx as unknown as LlmPrismaClient,
          this.provider,
          rows.map((r) => r.startedAt),
          now,
        )
        const counters = await applyDeltas(tx, this.provider, deltas, now)
        // SQLite does not fail an integer overflow: the sum becomes a float (read back past the range).
        if (counters.some((c) => c.spentCost > MAX_NANOS)) throw new RangeError('counter out of range')
        return count
      },
      { maxWait: 30_000, timeout: 300_000 },
    )) as number
  }

  async cost(query?: PeriodQuery): Promise<Decimal> {
    return (await this.usageSummary(query)).cost
  }

  async tokens(query?: PeriodQuery): Promise<number> {
    return (await this.usageSummary(query)).tokens
  }

  async executionCount(query?: PeriodQuery): Promise<number> {
    const scope = resolveScope(query, this.config)
    return (await this.client.llmExecution.count({ where: scopeWhere(scope) })) as number
  }

  /** `{ cost, tokens, executions, period }` in one aggregate query. */
  async usageSummary(query?: PeriodQuery): Promise<UsageSummary> {
    const scope = resolveScope(query, this.config)
    const agg = (await this.client.llmExecution.aggregate({
      where: scopeWhere(scope),
      _sum: { totalCostNanos: true, totalTokens: true },
      _count: { _all: true },
    })) as Aggregate
    return {
      cost: nanosToUsd(toNanos(agg._sum.totalCostNanos)),
      tokens: Number(toNanos(agg._sum.totalTokens)),
      executions: agg._count._all,
      period: scope.period,
    }
  }

  usageByAgent(query?: PeriodQuery): Promise<Record<string, UsageFigures>> {
    return this.usageBy('agentType', query)
  }

  usageByModel(query?: PeriodQuery): Promise<Record<string, UsageFigures>> {
    return this.usageBy('model', query)
  }

  /**
   * Usage per tenant API key (by the key's stable id, so a rotation does not split or reset it);
   * calls made without a key are under `none`.
   */
  usageByApiKey(query?: PeriodQuery): Promise<Record<string, UsageFigures>> {
    return this.usageBy('apiKeyId', query)
  }

  /** Every zone-local day of the period (zero-filled), in order: `{ 'YYYY-MM-DD': figures }`. */
  usageByDay(query?: PeriodQuery): Promise<Record<string, UsageFigures>> {
    return usageByDay(this.client, this.provider, resolveScope(query, this.config))
  }

  /** Newest first. */
  async recentExecutions(query: ListQuery = {}): Promise<ExecutionRecord[]> {
    return this.list(query, {})
  }

  /** Executions that ended in `error` or `timeout`, newest first (refusals are not failures: see refusedExecutions). */
  async failedExecutions(query: Omit<ListQuery, 'includeRefused'> = {}): Promise<ExecutionRecord[]> {
    assertQuery(query, ['tenantId', 'period', 'limit'])
    return this.list(query, { status: { in: [...FAILED_STATUSES] } })
  }

  /** Calls refused before the provider was contacted (status `refused`: budget, inactive tenant, breaker, key), newest first. */
  async refusedExecutions(query: Omit<ListQuery, 'includeRefused'> = {}): Promise<ExecutionRecord[]> {
    assertQuery(query, ['tenantId', 'period', 'limit'])
    return this.list(query, { status: 'refused' })
  }

  /** Executions with a tenant, without one, or of one tenant; newest first. */
  async executions(query: ExecutionsQuery = {}): Promise<ExecutionRecord[]> {
    assertQuery(query, ['tenant', 'period', 'limit', 'includeRefused'])
    const { tenant, ...rest } = query
    if (tenant === undefined) return this.list(rest, {})
    if (tenant === 'with') return this.list(rest, { tenantId: { not: null } })
    if (tenant === 'without') return this.list({ ...rest, tenantId: null }, {})
    if (typeof tenant === 'object' && tenant !== null && typeof tenant.id === 'string') {
      return this.list({ ...rest, tenantId: tenant.id }, {})
    }
    throw new InvalidArgumentError('tenant', `'with', 'without' or { id: string }`, tenant)
  }

  /** Spend per tenant for a period, highest first ("top spenders"). Calls without a tenant are excluded. */
  async costByTenant(query: { period?: PeriodInput; limit?: number; includeRefused?: boolean } = {}): Promise<TenantSpend[]> {
    assertQuery(query, ['period', 'limit', 'includeRefused'])
    const scope = resolveScope({ period: query.period, includeRefused: query.includeRefused }, this.config)
    const take = assertLimit(query.limit ?? 10)
    if (this.provider === 'sqlite') return topTenantsBySpendSqlite(this.client, scope.period, take, scope.includeRefused)
    const groups = (await this.client.llmExecution.groupBy({
      by: ['tenantId'],
      where: scopeWhere(scope, { tenantId: { not: null } }),
      _sum: { totalCostNanos: true, totalTokens: true },
      _count: { _all: true },
      orderBy: [{ _sum: { totalCostNanos: 'desc' } }, { tenantId: 'asc' }],
      take,
    })) as Grouped[]
    return groups.map((g) => ({
      tenantId: g.tenantId as string,
      cost: nanosToUsd(toNanos(g._sum.totalCostNanos)),
      tokens: Number(toNanos(g._sum.totalTokens)),
      executions: g._count._all,
    }))
  }

  private async usageBy(field: 'agentType' | 'model' | 'apiKeyId', query?: PeriodQuery): Promise<Record<string, UsageFigures>> {
    const scope = resolveScope(query, this.config)
    const groups = (await this.client.llmExecution.groupBy({
      by: [field],
      where: scopeWhere(scope),
      _sum: { totalCostNanos: true, totalTokens: true },
      _count: { _all: true },
      orderBy: { [field]: 'asc' },
    })) as Grouped[]
    const result: Record<string, UsageFigures> = {}
    for (const g of groups) {
      result[(g[field] as string | null) ?? 'none'] = {
        cost: nanosToUsd(toNanos(g._sum.totalCostNanos)),
        tokens: Number(toNanos(g._sum.totalTokens)),
        count: g._count._all,
      }
    }
    return result
  }

  private async list(query: ListQuery, extra: Record<string, unknown>): Promise<ExecutionRecord[]> {
    assertQuery(query, ['tenantId', 'period', 'limit', 'includeRefused'])
    const take = assertLimit(query.limit ?? 20)
    const resolved = resolveScope({ tenantId: query.tenantId, period: query.period, includeRefused: query.includeRefused }, this.config)
    const scope = query.period === undefined ? { tenantId: resolved.tenantId, includeRefused: resolved.includeRefused } : resolved
    const rows = (await this.client.llmExecution.findMany({
      where: scopeWhere(scope, extra),
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take,
    })) as Record<string, unknown>[]
    return rows.map(toExecutionRecord)
  }
}

/** Creates a ledger over the app's Prisma client (plain or `$extends`-ed). */
export function createLedger(client: unknown, config?: LlmConfig | LlmConfigInput): LlmLedger {
  return new LlmLedger(client, config)
}
