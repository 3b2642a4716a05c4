/**
 * The store plugs into the OpenAI Agents SDK for JavaScript: `store.session<AgentInputItem>(…)` is
 * the SDK's `Session` type (checked by tsc), and the SDK's own runner keeps a conversation in it —
 * on both databases, with a model double standing in for the provider (the runner, its history
 * handling and its session calls are the SDK's, unmodified).
 */
import { Agent, run, setTracingDisabled, Usage, type AgentInputItem, type Model, type ModelRequest, type Session } from '@openai/agents-core'
import { describe, expect, it } from 'vitest'
import { createSessionStore } from '../../src/sessions/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'

setTracingDisabled(true)

/** Answers "answer N" and records the input the runner sent it. */
function recordingModel(): Model & { inputs: unknown[] } {
  const inputs: unknown[] = []
  return {
    inputs,
    async getResponse(request: ModelRequest) {
      inputs.push(request.input)
      const text = `answer ${inputs.length}`
      return {
        usage: new Usage({ requests: 1, inputTokens: 10, outputTokens: 2, totalTokens: 12 }),
        output: [{ type: 'message', role: 'assistant', status: 'completed', id: `msg_${inputs.length}`, content: [{ type: 'output_text', text }] }],
        responseId: `resp_${inputs.length}`,
      }
    },
    // biome-ignore lint/correctness/useYield: the runner never streams in this test
    async *getStreamedResponse() {
      throw new Error('not used')
    },
  }
}

describe.each(DATABASES)('the OpenAI Agents SDK runs on the store on %s', (kind) => {
  const db = useDatabase(kind)

  it('store.session<AgentInputItem>() is an SDK Session, and the SDK runner keeps the conversation in it', async () => {
    const store = createSessionStore(db().client)
    const session: Session = store.session<AgentInputItem>('acme', 'sdk-conversation')
    const model = recordingModel()
    const agent = new Agent({ name: 'Guide', instructions: 'Be brief.', model })
    const first = await run(agent, 'What city is the Golden Gate Bridge in?', { session })
    const second = await run(agent, 'What state is it in?', { session })
    expect([first.finalOutput, second.finalOutput]).toEqual(['answer 1', 'answer 2'])
    // The second call got the first turn from the store, then the new question.
    const sent = model.inputs[1] as Array<{ role?: string; content?: unknown }>
    expect(sent.map((i) => i.role)).toEqual(['user', 'assistant', 'user'])
    expect(sent[0].content).toBe('What city is the Golden Gate Bridge in?')
    const items = await session.getItems()
    expect(items).toHaveLength(4)
    expect(items[3]).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'answer 2' }] })
    const rows = await db().rawQuery<{ role: string; sequence: number; tenant_id: string }>(
      "SELECT role, sequence, tenant_id FROM llm_session_items WHERE session_id = 'sdk-conversation' ORDER BY sequence",
    )
    expect(rows.map((r) => [r.tenant_id, Number(r.sequence), r.role])).toEqual([
      ['acme', 1, 'user'],
      ['acme', 2, 'assistant'],
      ['acme', 3, 'user'],
      ['acme', 4, 'assistant'],
    ])
    // Another tenant's session of the same id is another conversation.
    expect(await store.session<AgentInputItem>('globex', 'sdk-conversation').getItems()).toEqual([])
    expect(await session.popItem()).toMatchObject({ role: 'assistant' })
    await session.clearSession()
    expect(await session.getItems()).toEqual([])
  })
})
