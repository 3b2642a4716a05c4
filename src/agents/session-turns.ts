/**
 * Agent runs with a session (`run(input, { session: 'conv-42' })`, docs/sessions.md): the session
 * is always the call's tenant's — the tenant the run resolved (explicit, `withTenant`, resolver),
 * never anything read from the session id. Before the call its history is loaded and put before
 * the input; after a successful call the turn (the input, tool calls and results, the answer) is
 * appended in one transaction, so concurrent turns on one session land whole, one after the other.
 * A failed run appends nothing.
 */
import type { JsonValue } from '../foundation/validation.js'
import type { ChatMessage, ToolCall } from '../providers/types.js'
import { SessionQuotaExceededError, SessionTenantRequiredError } from '../sessions/errors.js'
import type { LlmSessionStore } from '../sessions/store.js'
import type { ResolvedTenant } from '../tenant/ref.js'

/** The session a run is on, and how many of its messages came from the history. */
export interface RunSession {
  store: LlmSessionStore
  tenantId: string
  sessionId: string
  agent: string
  historyLength: number
}

const text = (content: unknown): string | null => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return null
  // The OpenAI Agents SDK's items: [{ type: 'input_text' | 'output_text', text }, …].
  const parts = content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : null))
  return parts.every((p) => p === null) ? null : parts.filter((p) => p !== null).join('')
}

const isToolCall = (c: unknown): c is ToolCall =>
  !!c &&
  typeof c === 'object' &&
  typeof (c as ToolCall).id === 'string' &&
  typeof (c as ToolCall).name === 'string' &&
  typeof (c as ToolCall).arguments === 'object'

/**
 * Stored items → the messages a provider call takes: our own messages as they are, the SDK's user
 * and assistant messages as text; other items (the SDK's function calls, reasoning) are skipped, and
 * tool results whose call is no longer in the history (trimmed by retention) are dropped, as are
 * tool calls left without their results — a provider refuses either.
 */
function historyMessages(items: readonly JsonValue[]): ChatMessage[] {
  const out: ChatMessage[] = []
  for (const raw of items) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) continue
    const item = raw as Record<string, unknown>
    if (item.role === 'user' || item.role === 'assistant') {
      const content = text(item.content)
      if (content === null) continue
      const calls = item.role === 'assistant' && Array.isArray(item.toolCalls) ? item.toolCalls.filter(isToolCall) : []
      out.push(calls.length > 0 ? { role: 'assistant', content, toolCalls: calls } : { role: item.role, content })
    } else if (item.role === 'tool' && typeof item.toolCallId === 'string' && typeof item.name === 'string' && typeof item.content === 'string') {
      out.push({ role: 'tool', toolCallId: item.toolCallId, name: item.name, content: item.content })
    }
  }
  const answered = new Set(out.flatMap((m) => (m.role === 'tool' ? [m.toolCallId] : [])))
  const asked = new Set<string>()
  return out.flatMap((m): ChatMessage[] => {
    if (m.role === 'tool') return asked.has(m.toolCallId) ? [m] : []
    if (m.role !== 'assistant' || !m.toolCalls) return [m]
    const calls = m.toolCalls.filter((c) => answered.has(c.id))
    for (const c of calls) asked.add(c.id)
    return [calls.length > 0 ? { ...m, toolCalls: calls } : { role: 'assistant', content: m.content }]
  })
}

/** Opens the run's session: its history, after checking the tenant has room left for the turn. */
export async function openRunSession(
  store: LlmSessionStore,
  tenant: ResolvedTenant | null,
  sessionId: string,
  agent: string,
): Promise<{ session: RunSession; history: ChatMessage[] }> {
  if (!tenant) throw new SessionTenantRequiredError(sessionId)
  const history = historyMessages(await store.openForRun(tenant.tenantId, sessionId))
  return { session: { store, tenantId: tenant.tenantId, sessionId, agent, historyLength: history.length }, history }
}

/**
 * Appends the run's turn — its messages after the history — in one transaction. The answer records
 * the run's output tokens. Past the storage quota the turn is not kept: `SessionQuotaExceededError`
 * carries the run's `result` (the call was made and charged).
 */
export async function appendTurn<R extends { messages: ChatMessage[]; usage: { outputTokens: number } }>(session: RunSession, result: R): Promise<R> {
  const turn = result.messages.slice(session.historyLength)
  const last = turn.length - 1
  try {
    await session.store.append(
      session.tenantId,
      session.sessionId,
      turn.map((item, i) => (i === last && item.role === 'assistant' ? { item, tokens: result.usage.outputTokens } : { item })),
      { agent: session.agent },
    )
  } catch (err) {
    if (err instanceof SessionQuotaExceededError) err.result = result
    throw err
  }
  return result
}
