/**
 * A tenant's version of a code-defined agent: the definition a run uses when the tenant has an
 * agent config (src/agent-configs/) for the agent's name. The config sets the provider, model,
 * instructions, output cap, fallbacks and which of the code's tools the agent may use; everything
 * else (retries, timeouts, breaker, temperature, the tools' code) stays the code's. A config field
 * left null takes the code's value. Tools exist only in code, so `toolNames` can only narrow them:
 * a name the code does not define is skipped (a config may name a tool of a newer release).
 */
import type { AgentConfigRecord } from '../agent-configs/input.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { PROVIDERS } from '../foundation/providers.js'
import type { AgentDefinition } from './define.js'

export function withTenantConfig(def: AgentDefinition, config: AgentConfigRecord | null): AgentDefinition {
  if (config === null) return def
  // Rows written through LlmAgentConfigs are valid; one edited by hand must not reach an adapter.
  if (!(PROVIDERS as readonly string[]).includes(config.provider)) {
    throw new InvalidArgumentError(`agent config "${config.agentName}" of tenant "${config.tenantId}": provider`, PROVIDERS.join(', '), config.provider)
  }
  const allowed = config.toolNames === null ? null : new Set(config.toolNames)
  return Object.freeze({
    ...def,
    provider: config.provider,
    // The Responses API is OpenAI's: a config that moves the agent to another provider speaks that provider's API.
    api: config.provider === def.provider ? def.api : 'chat',
    model: config.model,
    instructions: config.instructions ?? def.instructions,
    maxOutputTokens: config.maxOutputTokens ?? def.maxOutputTokens,
    fallbackModels: config.fallbackModels ?? def.fallbackModels,
    tools: allowed === null ? def.tools : def.tools.filter((t) => allowed.has(t.name)),
  })
}
