/**
 * A local HTTP server on 127.0.0.1 that speaks enough of the OpenAI (Chat Completions, Responses)
 * and Anthropic (Messages) APIs for the official SDKs to talk to it: success, streaming (SSE), tool
 * calls, HTTP errors with retry-after, hangs (timeouts), malformed bodies, missing usage and streams
 * cut mid-way. Tests and the offline example point the SDKs' base URLs here; nothing leaves the host.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { InvalidArgumentError } from '../foundation/errors.js'

export type Scenario =
  | { kind: 'ok'; text?: string; usage?: Partial<EmulatedUsage> | null /** Streaming: pause between deltas. */; deltaDelayMs?: number }
  | { kind: 'error'; status: number; message?: string; headers?: Record<string, string> }
  | { kind: 'hang'; ms: number }
  | { kind: 'malformed' }
  | { kind: 'tool'; name: string; arguments: Record<string, unknown> }
  | { kind: 'cut'; afterDeltas: number }

export interface EmulatedUsage {
  inputTokens: number
  outputTokens: number
  cachedInputTokens: number
  cacheWriteTokens: number
  reasoningTokens: number
}

export interface RecordedRequest {
  provider: 'openai' | 'anthropic'
  api: 'chat' | 'responses' | 'messages'
  model: string
  apiKey: string
  stream: boolean
  // biome-ignore lint/suspicious/noExplicitAny: the request body as the SDK sent it
  body: Record<string, any>
}

// biome-ignore lint/suspicious/noExplicitAny: request and response bodies of three provider APIs
type Json = any

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

export interface EmulatorOptions {
  /** How long every request takes before it is answered (a real provider is never instant). Default 0. */
  latencyMs?: number
}

export class ProviderEmulator {
  readonly requests: RecordedRequest[] = []
  private readonly scripts = new Map<string, Scenario[]>()
  private server?: Server
  private port = 0
  private readonly sockets = new Set<import('node:net').Socket>()
  private readonly latencyMs: number

  constructor(options: EmulatorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', '{ latencyMs? }', options)
    for (const key of Object.keys(options)) if (key !== 'latencyMs') throw new InvalidArgumentError(`options.${key}`, 'latencyMs', key)
    const latencyMs = options.latencyMs === undefined ? 0 : options.latencyMs
    if (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs) || latencyMs < 0)
      throw new InvalidArgumentError('options.latencyMs', 'a non-negative number of milliseconds', latencyMs)
    this.latencyMs = latencyMs
  }

  /** Queues scenarios for a model (FIFO); once consumed, calls succeed with an echo. */
  script(model: string, ...scenarios: Scenario[]): this {
    this.scripts.set(model, [...(this.scripts.get(model) ?? []), ...scenarios])
    return this
  }

  get openaiBaseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`
  }

  get anthropicBaseURL(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  private next(model: string): Scenario {
    const queue = this.scripts.get(model)
    return queue?.shift() ?? { kind: 'ok' }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let body: Json
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
    } catch {
      return this.send(res, 400, { error: { message: 'invalid JSON' } })
    }
    const url = req.url ?? ''
    const api = url.endsWith('/chat/completions') ? 'chat' : url.endsWith('/responses') ? 'responses' : url.endsWith('/messages') ? 'messages' : null
    if (!api) return this.send(res, 404, { error: { message: `unknown path ${url}` } })
    const provider = api === 'messages' ? 'anthropic' : 'openai'
    // OpenAI sends `Authorization: Bearer`; Anthropic `x-api-key` (SDK ≤ 0.x) or `Authorization: Bearer` (1.x).
    const apiKey = String(req.headers['x-api-key'] ?? String(req.headers.authorization ?? '').replace(/^Bearer /, ''))
    this.requests.push({ provider, api, model: body.model, apiKey, stream: body.stream === true, body })
    const scenario = this.next(body.model)
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs))

    if (scenario.kind === 'hang') {
      await new Promise((r) => setTimeout(r, scenario.ms))
      if (!res.destroyed) this.send(res, 504, { error: { message: 'upstream timeout' } })
      return
    }
    if (scenario.kind === 'error') {
      // Like the real APIs, a 401 echoes the key it was given: the library must scrub it.
      const message = scenario.message ?? (scenario.status === 401 ? `Incorrect API key provided: ${apiKey}` : `emulated ${scenario.status}`)
      const payload = provider === 'openai' ? { error: { message, type: 'emulated', code: null } } : { type: 'error', error: { type: 'emulated', message } }
      return this.send(res, scenario.status, payload, scenario.headers)
    }
    if (scenario.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return void res.end('{"id": "broken", "choices": [ {"message": ')
    }
    const reply = this.reply(api, body, scenario)
    if (body.stream === true) return void (await this.stream(api, res, body, reply, scenario))
    this.send(res, 200, this.complete(api, body, reply))
  }

  private reply(api: string, body: Json, scenario: Scenario) {
    const list: Json[] = api === 'responses' ? (body.input ?? []) : (body.messages ?? [])
    const last = list[list.length - 1]
    const lastText = typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? last?.output ?? '')
    const toolResult =
      last?.role === 'tool' || last?.type === 'function_call_output' || (Array.isArray(last?.content) && last.content[0]?.type === 'tool_result')
    const text =
      scenario.kind === 'ok' && scenario.text !== undefined
        ? scenario.text
        : toolResult
          ? `Tool said: ${last?.output ?? last?.content?.[0]?.content ?? last?.content}`
          : `Echo: ${lastText}`
    const promptChars = JSON.stringify(list).length + String(body.system ?? body.instructions ?? '').length
    const base: EmulatedUsage = {
      inputTokens: tokens('x'.repeat(promptChars)),
      outputTokens: tokens(text),
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    }
    const usage = scenario.kind === 'ok' && scenario.usage === null ? null : { ...base, ...(scenario.kind === 'ok' ? (scenario.usage ?? {}) : {}) }
    const tool = scenario.kind === 'tool' ? { id: `call_${this.requests.length}`, name: scenario.name, arguments: scenario.arguments } : null
    return { text: tool ? '' : text, usage, tool }
  }

  private complete(api: string, body: Json, r: ReturnType<ProviderEmulator['reply']>): Json {
    const u = r.usage
    if (api === 'chat') {
      return {
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        created: 1,
        model: body.model,
        choices: [
          {
            index: 0,
            finish_reason: r.tool ? 'tool_calls' : 'stop',
            message: {
              role: 'assistant',
              content: r.tool ? null : r.text,
              ...(r.tool
                ? { tool_calls: [{ id: r.tool.id, type: 'function', function: { name: r.tool.name, arguments: JSON.stringify(r.tool.arguments) } }] }
                : {}),
            },
          },
        ],
        ...(u
          ? {
              usage: {
                prompt_tokens: u.inputTokens,
                completion_tokens: u.outputTokens,
                total_tokens: u.inputTokens + u.outputTokens,
                prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
                completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
              },
            }
          : {}),
      }
    }
    if (api === 'responses') return this.responseObject(body, r)
    return {
      id: `msg_${this.requests.length}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      stop_reason: r.tool ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      content: r.tool ? [{ type: 'tool_use', id: r.tool.id, name: r.tool.name, input: r.tool.arguments }] : [{ type: 'text', text: r.text }],
      ...(u ? { usage: this.anthropicUsage(u) } : {}),
    }
  }

  private anthropicUsage(u: EmulatedUsage) {
    // Anthropic's input_tokens exclude cache reads and writes.
    return {
      input_tokens: u.inputTokens - u.cachedInputTokens - u.cacheWriteTokens,
      output_tokens: u.outputTokens,
      cache_read_input_tokens: u.cachedInputTokens,
      cache_creation_input_tokens: u.cacheWriteTokens,
    }
  }

  private responseObject(body: Json, r: ReturnType<ProviderEmulator['reply']>): Json {
    const u = r.usage
    return {
      id: `resp_${this.requests.length}`,
      object: 'response',
      created_at: 1,
      model: body.model,
      status: 'completed',
      output: r.tool
        ? [
            {
              type: 'function_call',
              id: `fc_${r.tool.id}`,
              call_id: r.tool.id,
              name: r.tool.name,
              arguments: JSON.stringify(r.tool.arguments),
              status: 'completed',
            },
          ]
        : [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: r.text, annotations: [] }] }],
      ...(u
        ? {
            usage: {
              input_tokens: u.inputTokens,
              input_tokens_details: { cached_tokens: u.cachedInputTokens },
              output_tokens: u.outputTokens,
              output_tokens_details: { reasoning_tokens: u.reasoningTokens },
              total_tokens: u.inputTokens + u.outputTokens,
            },
          }
        : {}),
    }
  }

  private async stream(api: string, res: ServerResponse, body: Json, r: ReturnType<ProviderEmulator['reply']>, scenario: Scenario): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    // Like a real provider, the 200 goes out at once: a `cut` before any delta then drops an open stream.
    res.flushHeaders()
    const deltas = r.text.match(/.{1,6}/gs) ?? []
    const cutAt = scenario.kind === 'cut' ? scenario.afterDeltas : Number.POSITIVE_INFINITY
    const sse = (event: string | null, data: Json) => res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`)
    const u = r.usage
    if (api === 'messages') {
      sse('message_start', {
        type: 'message_start',
        message: {
          id: 'msg_s',
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: u ? { ...this.anthropicUsage(u), output_tokens: 1 } : { input_tokens: 0, output_tokens: 0 },
        },
      })
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
    }
    const pause = scenario.kind === 'ok' ? (scenario.deltaDelayMs ?? 0) : scenario.kind === 'cut' ? 5 : 0
    for (const [i, delta] of deltas.entries()) {
      if (i >= cutAt || res.destroyed) break
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
      if (res.destroyed) return
      if (api === 'chat')
        sse(null, {
          id: 'c',
          object: 'chat.completion.chunk',
          created: 1,
          model: body.model,
          choices: [{ index: 0, delta: { content: delta }, finish_reason: null }],
        })
      else if (api === 'responses')
        sse('response.output_text.delta', {
          type: 'response.output_text.delta',
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta,
          sequence_number: i,
        })
      else sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: delta } })
    }
    if (deltas.length > cutAt) {
      await new Promise((resolve) => setTimeout(resolve, 50)) // let the client read what was sent
      res.socket?.destroy() // then the connection drops mid-stream
      return
    }
    if (res.destroyed) return
    if (api === 'chat') {
      sse(null, { id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
      if (u && body.stream_options?.include_usage) {
        sse(null, {
          id: 'c',
          object: 'chat.completion.chunk',
          created: 1,
          model: body.model,
          choices: [],
          usage: {
            prompt_tokens: u.inputTokens,
            completion_tokens: u.outputTokens,
            total_tokens: u.inputTokens + u.outputTokens,
            prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
          },
        })
      }
      res.write('data: [DONE]\n\n')
    } else if (api === 'responses') {
      sse('response.completed', { type: 'response.completed', sequence_number: deltas.length, response: this.responseObject(body, r) })
    } else {
      sse('content_block_stop', { type: 'content_block_stop', index: 0 })
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: u?.outputTokens ?? 0 } })
      sse('message_stop', { type: 'message_stop' })
    }
    res.end()
  }

  private send(res: ServerResponse, status: number, payload: Json, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(payload))
  }
}
