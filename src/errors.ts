/**
 * The public `prisma-llm-tenant/errors` entry: every error class the library throws on purpose, from
 * the layer that throws it. All extend LlmTenantError and carry a stable `code`.
 */
export { LlmTenantError, InvalidArgumentError, SchemaMismatchError } from './foundation/errors.js'
export {
  AdmissionError,
  BudgetExceededError,
  RateLimitExceededError,
  TenantInactiveError,
  type BudgetExceededDetails,
  type BudgetFigures,
  type CostLimitType,
  type CountLimitType,
} from './budget/errors.js'
export { AllModelsExhaustedError, CircuitBreakerOpenError, MaxStepsExceededError, MissingApiKeyError } from './agents/errors.js'
export { MissingProviderSdkError, ProviderError } from './providers/errors.js'
export { UnknownModelError } from './pricing/price.js'
export { SecretDecryptionError } from './crypto/secrets.js'
export { TenantNotFoundError } from './tenant/errors.js'
export { PlanExistsError, PlanInUseError, PlanNotFoundError } from './plans/errors.js'
export { ApiKeyExpiredError, ApiKeyNotFoundError, ApiKeyRevokedError, InvalidApiKeyError } from './keys/errors.js'
export { AgentConfigNotFoundError, AgentDisabledError, AgentTemplateNotFoundError } from './agent-configs/errors.js'
export { IdempotencyConflictError, TenantExistsError } from './provisioning/errors.js'
export { UnknownAgentError } from './agents/errors.js'
export { InvoiceNotFoundError, InvoiceStateError } from './billing/errors.js'
export { SessionQuotaExceededError, SessionTenantRequiredError } from './sessions/errors.js'
export { TenantScopeMismatchError } from './db/rls.js'
