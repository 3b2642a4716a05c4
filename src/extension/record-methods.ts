/**
 * The methods every record of the tenant model gets (Prisma result extension: computed fields that
 * return functions). Each delegates to the ledger or the budget layer with the record's tenant id.
 */
import type { LlmBudgets, TrackCall } from '../budget/budgets.js'
import type { CallContext } from '../budget/call.js'
import type { BudgetStatus, LimitStatus } from '../budget/status.js'
import type { LlmLedger } from '../ledger/ledger.js'
import type { ExecutionRecord, UsageFigures, UsageSummary } from '../ledger/types.js'
import type { Decimal } from '../foundation/money.js'
import type { PeriodInput } from '../foundation/periods.js'
import type { SqlProvider } from '../db/client.js'
import type { LlmPrismaClient } from '../db/client.js'
import type { HostModel } from './host.js'
import { ensureTenantRow } from '../tenant/loader.js'
import { type TenantStore, tenantToColumns, toTenantRecord, type TenantInput, type TenantRecord } from '../tenant/store.js'
import { assertQuery } from '../foundation/validation.js'
import type { BudgetLimitType } from '../config/limits.js'
import type { RateWindowStatus } from '../budget/rate-status.js'
import type { LlmPlans, PlanChangeAt } from '../plans/plans.js'
import type { PlanAssignment, PlanRecord } from '../plans/plan-record.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import type { AuditPage, AuditQuery, LlmAuditLog } from '../audit/log.js'
import type { IssuedApiKey, LlmApiKeys } from '../keys/api-keys.js'
import type { ApiKeyInput, ApiKeyRecord } from '../keys/key-record.js'
import type { LlmAgentConfigs } from '../agent-configs/store.js'
import { agentConfigToColumns, assertAgentName, type AgentConfigInput, type AgentConfigRecord } from '../agent-configs/input.js'

export interface TenantContext {
  client: LlmPrismaClient
  provider: SqlProvider
  host: HostModel
  ledger: LlmLedger
  budgets: LlmBudgets
  store: TenantStore
  plans: LlmPlans
  audit: LlmAuditLog
  apiKeys: LlmApiKeys
  agentConfigs: LlmAgentConfigs
  now: () => Date
}

type PeriodArg = { period?: PeriodInput; includeRefused?: boolean }
type ListArg = { limit?: number; period?: PeriodInput }
type Rec = Record<string, unknown>

/** The method's argument with its keys checked (a misspelt `period` must not fall back to the default). */
const arg = <T extends object>(q: T, keys: readonly string[]): T => (assertQuery(q, keys), q)
const usage = (q: PeriodArg) => arg(q, ['period', 'includeRefused'])
const list = (q: ListArg) => arg(q, ['limit', 'period'])

/** Get-or-create the tenant row of a host record (race-free). */
export async function tenantRowOf(ctx: TenantContext, record: Rec | null, tenantId: string, audit?: AuditOptions): Promise<TenantRecord> {
  return toTenantRecord(await ensureTenantRow(ctx.client, ctx.provider, ctx.host.tenantInput(record, tenantId), ctx.now(), audit))
}

export function recordMethods(ctx: TenantContext) {
  const { host, ledger, budgets } = ctx
  const needs = host.needs
  const method = <F>(make: (record: Rec, tenantId: string) => F) => ({
    needs,
    compute: (record: Rec): F => make(record, host.tenantIdOf(record)),
  })
  return {
    llmTenantId: { needs, compute: (record: Rec): string => host.tenantIdOf(record) },
    llmCost: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<Decimal> =>
          ledger.cost({ tenantId: id, ...usage(q) }),
    ),
    llmCostToday: method((_r, id) => (): Promise<Decimal> => ledger.cost({ tenantId: id, period: 'today' })),
    llmCostThisMonth: method((_r, id) => (): Promise<Decimal> => ledger.cost({ tenantId: id, period: 'this_month' })),
    llmTokens: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<number> =>
          ledger.tokens({ tenantId: id, ...usage(q) }),
    ),
    llmTokensToday: method((_r, id) => (): Promise<number> => ledger.tokens({ tenantId: id, period: 'today' })),
    llmTokensThisMonth: method((_r, id) => (): Promise<number> => ledger.tokens({ tenantId: id, period: 'this_month' })),
    llmExecutionCount: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<number> =>
          ledger.executionCount({ tenantId: id, ...usage(q) }),
    ),
    llmExecutionsToday: method((_r, id) => (): Promise<number> => ledger.executionCount({ tenantId: id, period: 'today' })),
    llmExecutionsThisMonth: method((_r, id) => (): Promise<number> => ledger.executionCount({ tenantId: id, period: 'this_month' })),
    llmUsageSummary: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<UsageSummary> =>
          ledger.usageSummary({ tenantId: id, ...usage(q) }),
    ),
    llmUsageByAgent: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<Record<string, UsageFigures>> =>
          ledger.usageByAgent({ tenantId: id, ...usage(q) }),
    ),
    llmUsageByModel: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<Record<string, UsageFigures>> =>
          ledger.usageByModel({ tenantId: id, ...usage(q) }),
    ),
    llmUsageByDay: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<Record<string, UsageFigures>> =>
          ledger.usageByDay({ tenantId: id, ...usage(q) }),
    ),
    llmRecentExecutions: method(
      (_r, id) =>
        async (q: ListArg & { includeRefused?: boolean } = {}): Promise<ExecutionRecord[]> =>
          ledger.recentExecutions({ tenantId: id, ...arg(q, ['limit', 'period', 'includeRefused']) }),
    ),
    llmFailedExecutions: method(
      (_r, id) =>
        async (q: ListArg = {}): Promise<ExecutionRecord[]> =>
          ledger.failedExecutions({ tenantId: id, ...list(q) }),
    ),
    llmRefusedExecutions: method(
      (_r, id) =>
        async (q: ListArg = {}): Promise<ExecutionRecord[]> =>
          ledger.refusedExecutions({ tenantId: id, ...list(q) }),
    ),
    llmBudgetStatus: method((r) => (): Promise<BudgetStatus> => budgets.status(r)),
    llmWithinBudget: method(
      (r) =>
        async (q: { type?: BudgetLimitType } = {}): Promise<boolean> =>
          budgets.withinBudget(r, arg(q, ['type'])),
    ),
    llmRemainingBudget: method(
      (r) =>
        async (q: { type?: BudgetLimitType } = {}): Promise<LimitStatus['remaining']> =>
          budgets.remainingBudget(r, arg(q, ['type'])),
    ),
    llmCheckBudget: method((r) => (): Promise<BudgetStatus> => budgets.checkBudget(r)),
    llmRateLimitStatus: method(
      (r) =>
        async (q: { agentType?: string } = {}): Promise<RateWindowStatus[]> =>
          budgets.rateLimitStatus(r, arg(q, ['agentType'])),
    ),
    llmChangePlan: method(
      (r, id) =>
        async (key: string, options: { at?: PlanChangeAt; version?: number } = {}, audit?: AuditOptions): Promise<PlanAssignment> => {
          assertAuditOptions(audit)
          await tenantRowOf(ctx, r, id, audit) // the tenant row with the extension's defaults, when it is new
          return ctx.plans.changePlan(id, key, options, audit)
        },
    ),
    llmPlan: method(
      (_r, id) => (): Promise<{ plan: PlanRecord; assignment: PlanAssignment; scheduled: PlanAssignment | null } | null> => ctx.plans.currentPlan(id),
    ),
    llmPlanHistory: method((_r, id) => (): Promise<PlanAssignment[]> => ctx.plans.planHistory(id)),
    llmTenant: method((r, id) => (): Promise<TenantRecord> => tenantRowOf(ctx, r, id)),
    llmConfigure: method((r, id) => async (changes: Omit<Partial<TenantInput>, 'tenantId' | 'record'>, audit?: AuditOptions): Promise<TenantRecord> => {
      tenantToColumns(changes, 'changes') // validate before the tenant row is created
      assertAuditOptions(audit)
      await tenantRowOf(ctx, r, id, audit)
      return ctx.store.update(id, changes, audit)
    }),
    llmCreateApiKey: method((r, id) => async (input: ApiKeyInput, audit?: AuditOptions): Promise<IssuedApiKey> => {
      assertAuditOptions(audit)
      await tenantRowOf(ctx, r, id, audit)
      return ctx.apiKeys.createApiKey(id, input, audit)
    }),
    llmListApiKeys: method(
      (_r, id) =>
        (q: { includeRotated?: boolean } = {}): Promise<ApiKeyRecord[]> =>
          ctx.apiKeys.listApiKeys(id, q),
    ),
    llmUsageByApiKey: method(
      (_r, id) =>
        async (q: PeriodArg = {}): Promise<Record<string, UsageFigures>> =>
          ledger.usageByApiKey({ tenantId: id, ...usage(q) }),
    ),
    llmAgentConfigs: method((_r, id) => (): Promise<AgentConfigRecord[]> => ctx.agentConfigs.listAgentConfigs(id)),
    llmSetAgentConfig: method((r, id) => async (agentName: string, input: AgentConfigInput, audit?: AuditOptions): Promise<AgentConfigRecord> => {
      assertAgentName(agentName)
      agentConfigToColumns(input, 'input', { create: false }) // validate before the tenant row is created
      assertAuditOptions(audit)
      await tenantRowOf(ctx, r, id, audit) // the tenant row with the extension's defaults, when it is new
      return ctx.agentConfigs.setAgentConfig(id, agentName, input, audit)
    }),
    llmAuditEvents: method(
      (_r, id) =>
        async (q: Omit<AuditQuery, 'tenantId'> = {}): Promise<AuditPage> =>
          ctx.audit.events({ ...arg(q, ['action', 'actorType', 'actorId', 'period', 'limit', 'cursor']), tenantId: id }),
    ),
    llmApiKeys: method((r) => (): Promise<Record<string, string>> => host.apiKeysOf(r)),
    llmTrack: method(
      (r) =>
        <T>(call: TrackCall, fn: (ctx: CallContext) => Promise<T>): Promise<T> =>
          budgets.track(r, call, fn),
    ),
  }
}
