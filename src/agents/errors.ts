import { LlmTenantError } from '../foundation/errors.js'

/** No API key for the provider (tenant → call → config → environment), found before any call. */
export class MissingApiKeyError extends LlmTenantError {
  readonly provider: string
  readonly tenantId: string | null
  constructor(provider: string, tenantId: string | null) {
    const env = provider === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY'
    super(
      'MISSING_API_KEY',
      `No ${provider} API key for ${tenantId ? `tenant "${tenantId}"` : 'calls without a tenant'}: set the tenant's apiKeys, pass apiKeys on the call, configure providers.${provider}.apiKey or set ${env}`,
    )
    this.provider = provider
    this.tenantId = tenantId
  }
}

/** Every model of the run is short-circuited for this tenant and agent: failed fast, no provider call. */
export class CircuitBreakerOpenError extends LlmTenantError {
  readonly tenantId: string | null
  readonly agentType: string
  readonly models: string[]
  constructor(tenantId: string | null, agentType: string, models: string[]) {
    super('CIRCUIT_OPEN', `Circuit breaker open for agent "${agentType}"${tenantId ? ` of tenant "${tenantId}"` : ''} on ${models.join(', ')}`)
    this.tenantId = tenantId
    this.agentType = agentType
    this.models = models
  }
}

export interface AttemptInfo {
  executionId: string | null
  model: string
  status: 'success' | 'error' | 'timeout' | 'cancelled' | 'refused'
  errorClass: string | null
  message: string | null
}

/** Every model (primary and fallbacks) was tried and failed; `attempts` lists each try. */
export class AllModelsExhaustedError extends LlmTenantError {
  readonly attempts: AttemptInfo[]
  constructor(agentType: string, attempts: AttemptInfo[]) {
    super('ALL_MODELS_EXHAUSTED', `Agent "${agentType}": every model failed (${attempts.map((a) => `${a.model}: ${a.errorClass ?? a.status}`).join('; ')})`)
    this.attempts = attempts
  }
}

export class MaxStepsExceededError extends LlmTenantError {
  constructor(agentType: string, maxSteps: number) {
    super('MAX_STEPS_EXCEEDED', `Agent "${agentType}" did not finish within maxSteps = ${maxSteps} provider calls`)
  }
}

/** `runtime.agent(name)` for a name no `defineAgent` of this runtime registered. */
export class UnknownAgentError extends LlmTenantError {
  readonly agentName: string
  constructor(agentName: string, known: string[]) {
    super(
      'UNKNOWN_AGENT',
      `No agent "${agentName}" is defined on this runtime (defined: ${known.length ? known.join(', ') : 'none'}): define it with defineAgent first`,
    )
    this.agentName = agentName
  }
}
