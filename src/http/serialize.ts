/**
 * The JSON shapes of the API's answers (the OpenAPI document in openapi-schemas.ts describes the
 * same ones, and the tests check every answer against it). Money is an exact decimal string of
 * dollars — never a float, never exponent notation; instants are ISO-8601 UTC strings.
 */
import type { Decimal } from '../foundation/money.js'
import type { ResolvedPeriod } from '../foundation/periods.js'
import type { BudgetStatus, LimitStatus } from '../budget/status.js'
import type { RateWindowStatus } from '../budget/rate-status.js'
import type { ExecutionRecord, UsageFigures } from '../ledger/types.js'
import type { ApiKeyRecord } from '../keys/key-record.js'
import type { AgentResult } from '../agents/types.js'

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** Exact dollars as a decimal string (`0.00036`, never `3.6e-4`). */
const usd = (d: Decimal): string => d.toFixed()
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)
const figure = (v: Decimal | number | null): string | number | null => (v === null ? null : typeof v === 'number' ? v : usd(v))

export function periodJson(p: ResolvedPeriod): Json {
  return { name: p.name, from: p.from.toISOString(), to: p.to.toISOString(), timeZone: p.timeZone }
}

export function figuresJson(f: UsageFigures): { cost: string; tokens: number; executions: number } {
  return { cost: usd(f.cost), tokens: f.tokens, executions: f.count }
}

function limitJson(l: LimitStatus): Json {
  return {
    limit: figure(l.limit),
    used: figure(l.used) as string | number,
    reserved: figure(l.reserved) as string | number,
    remaining: figure(l.remaining),
    percentage: l.percentage,
    enforcement: l.enforcement,
    source: l.source,
  }
}

export function budgetsJson(status: BudgetStatus): Json {
  return Object.fromEntries(Object.entries(status.limits).map(([type, l]) => [type, limitJson(l)]))
}

export function rateWindowJson(w: RateWindowStatus): Json {
  return {
    name: w.name,
    scope: w.scope,
    measure: w.measure,
    window: w.window,
    limit: w.limit,
    remaining: w.remaining,
    resetsAt: iso(w.resetsAt),
    source: w.source,
  }
}

export function executionJson(r: ExecutionRecord): Json {
  return {
    id: r.id,
    agentType: r.agentType,
    provider: r.provider,
    model: r.model,
    status: r.status,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    cachedInputTokens: r.cachedInputTokens,
    totalTokens: r.totalTokens,
    inputCost: usd(r.inputCost),
    outputCost: usd(r.outputCost),
    totalCost: usd(r.totalCost),
    durationMs: r.durationMs,
    startedAt: r.startedAt.toISOString(),
    completedAt: iso(r.completedAt),
    errorClass: r.errorClass,
    errorMessage: r.errorMessage,
    traceId: r.traceId,
    parentId: r.parentId,
    apiKeyId: r.apiKeyId,
    metadata: r.metadata,
  }
}

/** A key as its tenant sees it: never the secret (the row has none) nor its hash. */
export function apiKeyJson(k: ApiKeyRecord): Json {
  return {
    id: k.id,
    name: k.name,
    start: k.start,
    createdAt: k.createdAt.toISOString(),
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
    lastUsedAt: iso(k.lastUsedAt),
    limits: Object.fromEntries(Object.entries(k.limits).map(([t, v]) => [t, figure(v as Decimal | number | null)])),
    rateLimits: k.rateLimits as Json,
    metadata: k.metadata,
  }
}

export function runResultJson(r: AgentResult): Json {
  return {
    text: r.text,
    model: r.model,
    usage: { ...r.usage },
    cost: usd(r.cost),
    executionId: r.executionId,
    traceId: r.traceId,
    steps: r.steps,
  }
}
