/**
 * OpenAI through the official SDK: Chat Completions and Responses, plain and streaming.
 * OpenAI's input token totals INCLUDE cached tokens (prompt_tokens_details.cached_tokens), which
 * is exactly our normalised shape, so nothing is counted twice.
 */
import type { ChatMessage, ProviderAdapter, ProviderRequest, ProviderResponse, StreamEvent, ToolCall } from './types.js'
import type { NormalizedUsage } from '../pricing/price.js'
import { usageCount } from './errors.js'

// biome-ignore lint/suspicious/noExplicitAny: the SDK response shapes are read defensively field by field
type Any = any

function parseArgs(text: unknown): Record<string, unknown> {
  if (typeof text !== 'string' || text === '') return {}
  try {
    const v = JSON.parse(text)
    return v && typeof v === 'object' && !Array.isArray(v) ? v : { value: v }
  } catch {
    return { _unparsed: text }
  }
}

function usageFrom(u: Any, inputKey: string, outputKey: string, inputDetails: string, outputDetails: string): NormalizedUsage | null {
  if (!u || typeof u !== 'object') return null
  return {
    inputTokens: usageCount(u[inputKey], `usage.${inputKey}`),
    outputTokens: usageCount(u[outputKey], `usage.${outputKey}`),
    cachedInputTokens: usageCount(u[inputDetails]?.cached_tokens, `usage.${inputDetails}.cached_tokens`),
    cacheWriteTokens: 0,
    reasoningTokens: usageCount(u[outputDetails]?.reasoning_tokens, `usage.${outputDetails}.reasoning_tokens`),
  }
}
const chatUsage = (u: Any) => usageFrom(u, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details', 'completion_tokens_details')
const responsesUsage = (u: Any) => usageFrom(u, 'input_tokens', 'output_tokens', 'input_tokens_details', 'output_tokens_details')

function chatMessages(req: ProviderRequest): Any[] {
  const out: Any[] = req.instructions ? [{ role: 'system', content: req.instructions }] : []
  for (const m of req.messages) {
    if (m.role === 'tool') out.push({ role: 'tool', tool_call_id: m.toolCallId, content: m.content })
    else if (m.role === 'assistant' && m.toolCalls?.length) {
      out.push({
        role: 'assistant',
        content: m.content || null,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
      })
    } else out.push({ role: m.role, content: m.content })
  }
  return out
}

function chatBody(req: ProviderRequest): Any {
  return {
    model: req.model,
    messages: chatMessages(req),
    max_completion_tokens: req.maxOutputTokens,
    ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
    ...(req.tools?.length
      ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })) }
      : {}),
  }
}

const options = (req: ProviderRequest) => ({ signal: req.signal, ...(req.timeoutMs ? { timeout: req.timeoutMs } : {}) })

export const openaiChat: ProviderAdapter = {
  name: 'openai',
  async complete(client: Any, req) {
    const res = await client.chat.completions.create(chatBody(req), options(req))
    const message = res?.choices?.[0]?.message
    if (!message) throw Object.assign(new Error('Malformed response: no choices[0].message'), { name: 'MalformedResponseError' })
    const toolCalls: ToolCall[] = (message.tool_calls ?? [])
      .filter((c: Any) => c.type === 'function')
      .map((c: Any) => ({ id: c.id, name: c.function.name, arguments: parseArgs(c.function.arguments) }))
    return { text: message.content ?? '', toolCalls, usage: chatUsage(res.usage), model: res.model ?? req.model }
  },
  async *stream(client: Any, req): AsyncIterable<StreamEvent> {
    const stream = await client.chat.completions.create({ ...chatBody(req), stream: true, stream_options: { include_usage: true } }, options(req))
    let text = ''
    let usage: NormalizedUsage | null = null
    let model = req.model
    for await (const chunk of stream) {
      model = chunk.model ?? model
      const delta = chunk.choices?.[0]?.delta?.content
      if (delta) {
        text += delta
        yield { type: 'text', delta }
      }
      if (chunk.usage) usage = chatUsage(chunk.usage)
    }
    yield { type: 'done', response: { text, toolCalls: [], usage, model } }
  },
}

function responsesInput(messages: ChatMessage[]): Any[] {
  const out: Any[] = []
  for (const m of messages) {
    if (m.role === 'tool') out.push({ type: 'function_call_output', call_id: m.toolCallId, output: m.content })
    else if (m.role === 'assistant') {
      if (m.content) out.push({ role: 'assistant', content: m.content })
      for (const c of m.toolCalls ?? []) out.push({ type: 'function_call', call_id: c.id, name: c.name, arguments: JSON.stringify(c.arguments) })
    } else out.push({ role: 'user', content: m.content })
  }
  return out
}

function responsesBody(req: ProviderRequest): Any {
  return {
    model: req.model,
    input: responsesInput(req.messages),
    max_output_tokens: req.maxOutputTokens,
    ...(req.instructions ? { instructions: req.instructions } : {}),
    ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
    ...(req.tools?.length ? { tools: req.tools.map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.parameters })) } : {}),
  }
}

function fromResponse(res: Any, req: ProviderRequest): ProviderResponse {
  if (!res || !Array.isArray(res.output)) throw Object.assign(new Error('Malformed response: no output'), { name: 'MalformedResponseError' })
  const text = res.output
    .filter((o: Any) => o.type === 'message')
    .flatMap((o: Any) => o.content ?? [])
    .filter((c: Any) => c.type === 'output_text')
    .map((c: Any) => c.text)
    .join('')
  const toolCalls = res.output
    .filter((o: Any) => o.type === 'function_call')
    .map((o: Any) => ({ id: o.call_id, name: o.name, arguments: parseArgs(o.arguments) }))
  return { text, toolCalls, usage: responsesUsage(res.usage), model: res.model ?? req.model }
}

export const openaiResponses: ProviderAdapter = {
  name: 'openai',
  async complete(client: Any, req) {
    return fromResponse(await client.responses.create(responsesBody(req), options(req)), req)
  },
  async *stream(client: Any, req): AsyncIterable<StreamEvent> {
    const stream = await client.responses.create({ ...responsesBody(req), stream: true }, options(req))
    let text = ''
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta' && event.delta) {
        text += event.delta
        yield { type: 'text', delta: event.delta }
      } else if (event.type === 'response.completed') {
        yield { type: 'done', response: fromResponse(event.response, req) }
        return
      }
    }
    yield { type: 'done', response: { text, toolCalls: [], usage: null, model: req.model } }
  },
}
