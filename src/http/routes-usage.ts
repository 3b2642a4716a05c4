/**
 * The read routes over the ledger, the budgets and the rate windows — always of the caller's tenant
 * (from its key), never of a tenant named in the request:
 *
 *   GET /v1/usage?period=             cost, tokens, executions; budgets; rate windows; plan
 *   GET /v1/usage/daily?from=&to=     per zone-local day (both days included, at most 366)
 *   GET /v1/usage/by-agent|by-model|by-key?period=
 *   GET /v1/executions?status=&agent=&limit=&cursor=   newest first, keyset pages
 *   GET /v1/executions/:id            404 for an id of another tenant (never revealed to exist)
 */
import { TZDate } from '@date-fns/tz'
import { dayKey, PERIOD_NAMES, resolvePeriod, type PeriodName } from '../foundation/periods.js'
import { EXECUTION_STATUSES } from '../ledger/types.js'
import type { UsageFigures } from '../ledger/types.js'
import { HttpError, jsonReply } from './errors.js'
import type { Answer } from './reply.js'
import { intParam, oneOf, pathId, queryOf } from './request.js'
import { budgetsJson, executionJson, figuresJson, periodJson, rateWindowJson } from './serialize.js'
import type { Route, RouteContext } from './context.js'

const DEFAULT_PERIOD: PeriodName = 'this_month'
const MAX_DAYS = 366
const DEFAULT_DAYS = 30

function periodOf(ctx: RouteContext): PeriodName {
  const q = queryOf(ctx.url, ['period'])
  return oneOf(q.period, PERIOD_NAMES, 'period') ?? DEFAULT_PERIOD
}

const ok = (ctx: RouteContext, body: unknown) => jsonReply(200, body, ctx.requestId)

async function usage(ctx: RouteContext): Promise<Answer> {
  const period = periodOf(ctx)
  const { tenantId } = ctx.caller
  const { ledger, budgets } = ctx.services
  const [summary, status, windows] = await Promise.all([ledger.usageSummary({ tenantId, period }), budgets.status(tenantId), budgets.rateLimitStatus(tenantId)])
  return ok(ctx, {
    tenantId,
    period: periodJson(summary.period),
    cost: summary.cost.toFixed(),
    tokens: summary.tokens,
    executions: summary.executions,
    enforcement: status.enforcement,
    budgets: budgetsJson(status),
    rateLimits: windows.map(rateWindowJson),
    plan: status.plan,
  })
}

/** A calendar date `YYYY-MM-DD` (a real one: no 2026-02-30). */
function calendarDate(value: string, param: string): { y: number; m: number; d: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  const parsed = m ? { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) } : null
  const check = parsed ? new Date(Date.UTC(parsed.y, parsed.m - 1, parsed.d)) : null
  if (!parsed || !check || check.getUTCFullYear() !== parsed.y || check.getUTCMonth() !== parsed.m - 1 || check.getUTCDate() !== parsed.d || parsed.y < 1970) {
    throw new HttpError(400, 'invalid_request', `Invalid ${param}: a calendar date YYYY-MM-DD is expected`, {
      param,
      allowed: 'a date YYYY-MM-DD (1970 or later)',
    })
  }
  return parsed
}

const utcDays = (c: { y: number; m: number; d: number }) => Date.UTC(c.y, c.m - 1, c.d) / 86_400_000
const fromUtcDays = (n: number) => new Date(n * 86_400_000).toISOString().slice(0, 10)

async function daily(ctx: RouteContext): Promise<Answer> {
  const q = queryOf(ctx.url, ['from', 'to'])
  const { config, ledger } = ctx.services
  const zone = config.timeZone
  const to = calendarDate(q.to ?? dayKey(config.now(), zone), 'to')
  const from = q.from === undefined ? calendarDate(fromUtcDays(utcDays(to) - (DEFAULT_DAYS - 1)), 'from') : calendarDate(q.from, 'from')
  const span = utcDays(to) - utcDays(from) + 1
  if (span < 1)
    throw new HttpError(400, 'invalid_request', 'Invalid from: it is after to', { param: 'from', allowed: `a date not after to (${fromUtcDays(utcDays(to))})` })
  if (span > MAX_DAYS)
    throw new HttpError(400, 'invalid_request', `Invalid to: at most ${MAX_DAYS} days from from`, { param: 'to', allowed: `at most ${MAX_DAYS} days` })
  // Zone-local midnights: the first day's start to the start of the day after the last.
  const start = new TZDate(from.y, from.m - 1, from.d, zone)
  const after = new TZDate(to.y, to.m - 1, to.d + 1, zone)
  const byDay = await ledger.usageByDay({ tenantId: ctx.caller.tenantId, period: { from: new Date(start.getTime()), to: new Date(after.getTime()) } })
  return ok(ctx, {
    tenantId: ctx.caller.tenantId,
    timeZone: zone,
    from: fromUtcDays(utcDays(from)),
    to: fromUtcDays(utcDays(to)),
    data: Object.entries(byDay).map(([date, f]) => ({ date, ...figuresJson(f) })),
  })
}

function grouped(field: 'agentType' | 'model' | 'apiKeyId', read: (ctx: RouteContext, period: PeriodName) => Promise<Record<string, UsageFigures>>) {
  return async (ctx: RouteContext): Promise<Answer> => {
    const period = periodOf(ctx)
    const resolved = resolvePeriod(period, ctx.services.config)
    const groups = await read(ctx, period)
    const names = field === 'apiKeyId' ? new Map((await ctx.services.keys.listApiKeys(ctx.caller.tenantId)).map((k) => [k.id, k.name])) : null
    const data = Object.entries(groups).map(([key, f]) => {
      if (field !== 'apiKeyId') return { [field]: key, ...figuresJson(f) }
      const id = key === 'none' ? null : key
      return { apiKeyId: id, name: id === null ? null : (names?.get(id) ?? null), ...figuresJson(f) }
    })
    return ok(ctx, { tenantId: ctx.caller.tenantId, period: periodJson(resolved), data })
  }
}

async function executions(ctx: RouteContext): Promise<Answer> {
  const q = queryOf(ctx.url, ['status', 'agent', 'limit', 'cursor'])
  const status = oneOf(q.status, EXECUTION_STATUSES, 'status')
  const limit = intParam(q.limit, 'limit', 1, 100) ?? 20
  if (q.agent !== undefined && (q.agent.length === 0 || q.agent.length > 255)) {
    throw new HttpError(400, 'invalid_request', 'Invalid agent', { param: 'agent', allowed: 'an agent name of 1 to 255 characters' })
  }
  if (q.cursor !== undefined && (q.cursor.length === 0 || q.cursor.length > 400 || !/^[A-Za-z0-9_-]+$/.test(q.cursor))) {
    throw new HttpError(400, 'invalid_request', 'Invalid cursor', { param: 'cursor', allowed: 'the nextCursor of a previous page' })
  }
  let page: Awaited<ReturnType<typeof ctx.services.pages.page>>
  try {
    page = await ctx.services.pages.page({ tenantId: ctx.caller.tenantId, status, agentType: q.agent, limit, cursor: q.cursor })
  } catch (err) {
    if ((err as { field?: unknown })?.field === 'query.cursor') {
      throw new HttpError(400, 'invalid_request', 'Invalid cursor', { param: 'cursor', allowed: 'the nextCursor of a previous page' })
    }
    throw err
  }
  return ok(ctx, { data: page.executions.map(executionJson), nextCursor: page.nextCursor })
}

async function execution(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const id = pathId(ctx.params[0], 'execution')
  const row = await ctx.services.pages.get(ctx.caller.tenantId, id)
  if (!row) throw new HttpError(404, 'not_found', 'No such execution')
  return ok(ctx, executionJson(row))
}

export const USAGE_ROUTES: Route[] = [
  { method: 'GET', path: '/v1/usage', run: usage },
  { method: 'GET', path: '/v1/usage/daily', run: daily },
  {
    method: 'GET',
    path: '/v1/usage/by-agent',
    run: grouped('agentType', (c, period) => c.services.ledger.usageByAgent({ tenantId: c.caller.tenantId, period })),
  },
  { method: 'GET', path: '/v1/usage/by-model', run: grouped('model', (c, period) => c.services.ledger.usageByModel({ tenantId: c.caller.tenantId, period })) },
  {
    method: 'GET',
    path: '/v1/usage/by-key',
    run: grouped('apiKeyId', (c, period) => c.services.ledger.usageByApiKey({ tenantId: c.caller.tenantId, period })),
  },
  { method: 'GET', path: '/v1/executions', run: executions },
  { method: 'GET', path: '/v1/executions/:id', run: execution },
]
