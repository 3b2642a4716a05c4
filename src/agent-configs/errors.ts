/**
 * The agent-config layer's errors: a config or template that does not exist, and an agent a
 * tenant's config has disabled (thrown by the runtime before any reservation or provider call).
 */
import { LlmTenantError } from '../foundation/errors.js'

export class AgentConfigNotFoundError extends LlmTenantError {
  readonly tenantId: string
  readonly agentName: string
  constructor(tenantId: string, agentName: string) {
    super('AGENT_CONFIG_NOT_FOUND', `Tenant "${tenantId}" has no config for agent "${agentName}"`)
    this.tenantId = tenantId
    this.agentName = agentName
  }
}

export class AgentTemplateNotFoundError extends LlmTenantError {
  readonly productType: string
  readonly agentName: string
  constructor(productType: string, agentName: string) {
    super('AGENT_TEMPLATE_NOT_FOUND', `Product type "${productType}" has no template for agent "${agentName}"`)
    this.productType = productType
    this.agentName = agentName
  }
}

/** The tenant's config of this agent says `enabled: false`: nothing was reserved, called or charged. */
export class AgentDisabledError extends LlmTenantError {
  readonly tenantId: string
  readonly agentName: string
  constructor(tenantId: string, agentName: string) {
    super('AGENT_DISABLED', `Agent "${agentName}" is disabled for tenant "${tenantId}" (its agent config has enabled: false)`)
    this.tenantId = tenantId
    this.agentName = agentName
  }
}
