/**
 * Anthropic Messages through the official SDK, plain and streaming. Anthropic reports cache reads
 * and cache writes SEPARATELY from input_tokens; we add them into inputTokens (and keep them as the
 * cached / cache-write subsets) so pricing counts each token exactly once.
 */
import type { ChatMessage, ProviderAdapter, ProviderRequest, StreamEvent, ToolCall } from './types.js'
import type { NormalizedUsage } from '../pricing/price.js'
import { usageCount } from './errors.js'

// biome-ignore lint/suspicious/noExplicitAny: the SDK response shapes are read defensively field by field
type Any = any

function normalise(u: Any, outputTokens?: number): NormalizedUsage | null {
  if (!u || typeof u !== 'object') return null
  const read = usageCount(u.cache_read_input_tokens, 'usage.cache_read_input_tokens')
  const write = usageCount(u.cache_creation_input_tokens, 'usage.cache_creation_input_tokens')
  return {
    inputTokens: usageCount(usageCount(u.input_tokens, 'usage.input_tokens') + read + write, 'usage.input_tokens + cache tokens'),
    outputTokens: outputTokens ?? usageCount(u.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: read,
    cacheWriteTokens: write,
    reasoningTokens: 0,
  }
}

/**
 * A usage that counts no tokens at all while text arrived is not a report (a proxy or an
 * emulator that zero-fills missing fields): null, so the call is estimated rather than priced at $0.
 */
function reportedUsage(usage: NormalizedUsage | null, text: string): NormalizedUsage | null {
  if (!usage || text === '') return usage
  return usage.inputTokens === 0 && usage.outputTokens === 0 ? null : usage
}

function messages(list: ChatMessage[]): Any[] {
  const out: Any[] = []
  for (const m of list) {
    if (m.role === 'tool') {
      const block = { type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }
      const last = out[out.length - 1]
      // Consecutive tool results travel in one user turn.
      if (last?.role === 'user' && Array.isArray(last.content) && last.content.every((b: Any) => b.type === 'tool_result')) last.content.push(block)
      else out.push({ role: 'user', content: [block] })
    } else if (m.role === 'assistant' && m.toolCalls?.length) {
      out.push({
        role: 'assistant',
        content: [
          ...(m.content ? [{ type: 'text', text: m.content }] : []),
          ...m.toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments })),
        ],
      })
    } else out.push({ role: m.role, content: m.content })
  }
  return out
}

function body(req: ProviderRequest): Any {
  return {
    model: req.model,
    max_tokens: req.maxOutputTokens,
    messages: messages(req.messages),
    ...(req.instructions ? { system: req.instructions } : {}),
    ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
    ...(req.tools?.length ? { tools: req.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })) } : {}),
  }
}

const options = (req: ProviderRequest) => ({ signal: req.signal, ...(req.timeoutMs ? { timeout: req.timeoutMs } : {}) })

export const anthropicMessages: ProviderAdapter = {
  name: 'anthropic',
  async complete(client: Any, req) {
    const res = await client.messages.create(body(req), options(req))
    if (!res || !Array.isArray(res.content)) throw Object.assign(new Error('Malformed response: no content'), { name: 'MalformedResponseError' })
    const text = res.content
      .filter((b: Any) => b.type === 'text')
      .map((b: Any) => b.text)
      .join('')
    const toolCalls: ToolCall[] = res.content
      .filter((b: Any) => b.type === 'tool_use')
      .map((b: Any) => ({ id: b.id, name: b.name, arguments: (b.input as Record<string, unknown>) ?? {} }))
    return { text, toolCalls, usage: reportedUsage(normalise(res.usage), text), model: res.model ?? req.model }
  },
  async *stream(client: Any, req): AsyncIterable<StreamEvent> {
    const stream = await client.messages.create({ ...body(req), stream: true }, options(req))
    let text = ''
    let start: Any = null
    let outputTokens: number | undefined
    let model = req.model
    for await (const event of stream) {
      if (event.type === 'message_start') {
        start = event.message?.usage ?? null
        model = event.message?.model ?? model
      } else if (event.type === 'content_block_delta' && event.delta?.type === 'text_delta') {
        text += event.delta.text
        yield { type: 'text', delta: event.delta.text }
      } else if (event.type === 'message_delta' && event.usage) {
        outputTokens = usageCount(event.usage.output_tokens, 'usage.output_tokens')
      }
    }
    yield { type: 'done', response: { text, toolCalls: [], usage: reportedUsage(start ? normalise(start, outputTokens) : null, text), model } }
  },
}
