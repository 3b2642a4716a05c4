export { LlmAgentConfigs, createAgentConfigs } from './store.js'
export { AgentConfigNotFoundError, AgentDisabledError, AgentTemplateNotFoundError } from './errors.js'
export type { AgentConfigInput, AgentConfigRecord, AgentTemplateInput, AgentTemplateRecord, CodeAgentTemplate } from './input.js'
