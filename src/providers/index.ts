export { MissingProviderSdkError, ProviderError, toProviderError } from './errors.js'
export { SdkClientCache, type ProviderEndpoint } from './clients.js'
export { openaiChat, openaiResponses } from './openai.js'
export { anthropicMessages } from './anthropic.js'
export {
  PROVIDERS,
  type ChatMessage,
  type ProviderName,
  type ToolCall,
  type ToolSpec,
  type ProviderAdapter,
  type ProviderRequest,
  type ProviderResponse,
} from './types.js'
