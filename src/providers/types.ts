/** The provider-neutral shapes the agent runtime speaks; each adapter maps them to its SDK. */
import type { ProviderName } from '../foundation/providers.js'
import type { NormalizedUsage } from '../pricing/price.js'

export { PROVIDERS, type ProviderName } from '../foundation/providers.js'

export interface ToolCall {
  id: string
  name: string
  /** Parsed JSON arguments. */
  arguments: Record<string, unknown>
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string }

export interface ToolSpec {
  name: string
  description: string
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>
}

export interface ProviderRequest {
  model: string
  instructions?: string
  messages: ChatMessage[]
  maxOutputTokens: number
  temperature?: number
  tools?: ToolSpec[]
  signal?: AbortSignal
  timeoutMs?: number
}

export interface ProviderResponse {
  text: string
  toolCalls: ToolCall[]
  /** null when the provider sent none (the runtime then estimates and says so on the record). */
  usage: NormalizedUsage | null
  /** The model id the provider reports. */
  model: string
}

export type StreamEvent = { type: 'text'; delta: string } | { type: 'done'; response: ProviderResponse }

export interface ProviderAdapter {
  readonly name: ProviderName
  complete(client: unknown, request: ProviderRequest): Promise<ProviderResponse>
  stream(client: unknown, request: ProviderRequest): AsyncIterable<StreamEvent>
}
