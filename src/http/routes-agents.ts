/**
 * `POST /v1/agents/:name/run` `{ input, stream? }`: runs the agent for the caller's tenant — the
 * tenant of the key, admitted against its budgets, rate windows and the key's own limits, recorded
 * in its ledger with the key's id (`apiKeyId`). The run's ledger trace id is its OpenTelemetry
 * trace id when tracing is on (an SDK registered, or an incoming `traceparent` the handler
 * extracted), else the request's id; the request id is in every row's metadata either way.
 *
 * - `stream: false` (default): 200 `{ text, model, usage, cost, executionId, traceId, steps }`.
 * - `stream: true`: Server-Sent Events — `event: delta` `{ type: 'delta', text }` per text delta,
 *   then `event: done` `{ type: 'done', text, model, usage, cost, executionId, traceId, steps }`;
 *   a failure after the first delta is `event: error` `{ error: { type, message, requestId } }` (the
 *   OpenAI SDK's stream reader throws it as an APIError). The answer starts only with the first
 *   delta: a refusal (429, 403) or a provider failure before it is an ordinary JSON error response.
 *
 * A client that goes away aborts the provider call (the request's signal, and the response
 * stream's cancel): the attempt is settled `cancelled`, costed for what was consumed, its hold
 * released.
 */
import type { AgentInput, AgentResult, AgentStream, RunOptions } from '../agents/types.js'
import { baseHeaders, errorReply, HttpError, jsonReply } from './errors.js'
import type { Answer } from './reply.js'
import { assertBodyKeys, pathId, queryOf, readJsonObject } from './request.js'
import { runResultJson } from './serialize.js'
import type { Route, RouteContext } from './context.js'

const encoder = new TextEncoder()

function sse(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}

function inputOf(value: unknown): AgentInput {
  const allowed = 'a non-empty string, or a non-empty array of { role: "user" | "assistant", content: string }'
  if (typeof value === 'string' && value.trim() !== '') return value
  if (Array.isArray(value) && value.length > 0 && value.length <= 1000) {
    value.forEach((m, i) => {
      const ok =
        typeof m === 'object' &&
        m !== null &&
        !Array.isArray(m) &&
        (m.role === 'user' || m.role === 'assistant') &&
        typeof m.content === 'string' &&
        Object.keys(m).every((k) => k === 'role' || k === 'content')
      if (!ok)
        throw new HttpError(400, 'invalid_request', `Invalid input[${i}]`, { param: `input[${i}]`, allowed: '{ role: "user" | "assistant", content: string }' })
    })
    return value.map((m) => ({ role: m.role, content: m.content }))
  }
  throw new HttpError(400, 'invalid_request', 'Invalid input', { param: 'input', allowed })
}

/** The SSE answer of a stream whose first step (`first`) has already arrived. */
function sseResponse(ctx: RouteContext, stream: AgentStream, it: AsyncIterator<string>, first: IteratorResult<string>): Response {
  const done = (result: AgentResult) => sse('done', { type: 'done', ...(runResultJson(result) as Record<string, unknown>) })
  let cancelled = false
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (!first.done) controller.enqueue(sse('delta', { type: 'delta', text: first.value }))
    },
    async pull(controller) {
      let chunk: Uint8Array
      let last = true
      try {
        const next = await it.next()
        last = next.done === true
        chunk = next.done ? done(await stream.result) : sse('delta', { type: 'delta', text: next.value })
      } catch (err) {
        const r = errorReply(err)
        chunk = sse('error', { type: 'error', error: { ...r.body.error, status: r.status, requestId: ctx.requestId } })
      }
      if (cancelled) return // the client is gone: nothing more is sent
      controller.enqueue(chunk)
      if (last) controller.close()
    },
    cancel() {
      // The client went away: stop the provider stream (settled as cancelled, hold released).
      cancelled = true
      stream.abort()
      void it.return?.()
    },
  })
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      ...baseHeaders(ctx.requestId),
      'cache-control': 'no-cache, no-store',
      'x-accel-buffering': 'no',
    },
  })
}

async function run(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const name = pathId(ctx.params[0], 'agent')
  const agent = ctx.services.agent(name)
  if (!agent) throw new HttpError(404, 'not_found', 'No such agent')
  const body = await readJsonObject(ctx.request, ctx.services.maxBodyBytes)
  assertBodyKeys(body, ['input', 'stream'])
  const input = inputOf(body.input)
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    throw new HttpError(400, 'invalid_request', 'Invalid stream', { param: 'stream', allowed: 'true or false' })
  }
  const options: RunOptions = {
    tenant: ctx.caller.tenantId,
    apiKeyId: ctx.caller.key.id,
    signal: ctx.request.signal,
    // Without tracing the request id stands for the trace; with it the span's trace id does (runtime.prepare).
    ...(ctx.services.config.telemetry.tracing() ? {} : { traceId: ctx.requestId }),
    // The request id on every ledger row of the run, as on the error responses and audit events.
    metadata: { requestId: ctx.requestId },
  }
  if (body.stream !== true) {
    const result = await agent.run(input, options)
    return jsonReply(200, runResultJson(result), ctx.requestId)
  }
  const stream = agent.stream(input, options)
  const it = stream[Symbol.asyncIterator]()
  // Until the first delta nothing is sent: a refusal or early failure is answered with its status.
  const first = await it.next()
  return sseResponse(ctx, stream, it, first)
}

export const AGENT_ROUTES: Route[] = [{ method: 'POST', path: '/v1/agents/:name/run', run }]
