export { LlmLedger, createLedger } from './ledger/index.js'
export type {
  ExecutionRecord,
  ExecutionStatus,
  ExecutionsQuery,
  ListQuery,
  PeriodQuery,
  RecordExecutionInput,
  TenantScope,
  TenantSpend,
  UsageFigures,
  UsageSummary,
} from './ledger/index.js'
export { EXECUTION_STATUSES } from './ledger/index.js'
export { defineLlmConfig, type LlmConfig, type LlmConfigInput } from './config/config.js'
export { Decimal, nanosToUsd, usdToNanos, type UsdInput } from './foundation/money.js'
export { PERIOD_NAMES, resolvePeriod, type PeriodInput, type PeriodName, type ResolvedPeriod } from './foundation/periods.js'
export { LlmTenantError, InvalidArgumentError, SchemaMismatchError } from './foundation/errors.js'
export { applyLlmTenantSchema, ddlPath, ddlStatements, schemaFragmentPath } from './db/schema.js'
export type { LlmPrismaClient, SqlProvider } from './db/client.js'
export { TenantStore, ENFORCEMENTS, LIMIT_TYPES } from './tenant/index.js'
export type { Enforcement, LimitType, Limits, LimitsInput, TenantInput, TenantRecord } from './tenant/index.js'
export { LlmBudgets, type TrackCall, type BudgetsOptions } from './budget/budgets.js'
export type { CallContext, UsageReport } from './budget/call.js'
export type { BudgetEvent } from './config/events.js'
export type { LlmLogger, TelemetryOptions, TenantAttributeOption } from './telemetry/options.js'
export type { RefreshResult } from './budget/refresh.js'
export { withTenant, currentTenant } from './tenant/ref.js'
export type { TenantRef, TenantOverride } from './config/overrides.js'
export {
  BudgetExceededError,
  TenantInactiveError,
  AdmissionError,
  type BudgetExceededDetails,
  type BudgetFigures,
  type CostLimitType,
  type CountLimitType,
} from './budget/errors.js'
export { llmTenant, type LlmTenantOptions } from './extension/extension.js'
export type { BudgetStatus, LimitStatus } from './budget/status.js'
export {
  LlmRuntime,
  createLlmRuntime,
  defineAgent,
  AllModelsExhaustedError,
  CircuitBreakerOpenError,
  MaxStepsExceededError,
  MissingApiKeyError,
  type Agent,
  type AgentInput,
  type AgentOptions,
  type AgentResult,
  type AgentStream,
  type AgentTool,
  type AttemptInfo,
  type RunOptions,
  type RuntimeOptions,
} from './agents/index.js'
export { MissingProviderSdkError, ProviderError, type ChatMessage, type ProviderName } from './providers/index.js'
export { DEFAULT_PRICES, UnknownModelError, priceUsage, findPrice, type ModelPrice, type PricingOptions } from './pricing/index.js'
export { encryptSecret, decryptSecret, keyringFromEnv, SecretDecryptionError } from './crypto/index.js'
export { preparedStatementName } from './db/pg.js'
export { sqliteFastPath } from './db/sqlite-direct.js'
export { pgFastPath } from './db/pg-direct.js'
export type { BudgetsInput } from './config/budgets.js'
export type { AgentLimitsInput } from './config/limits.js'
export type { ResolvedTenant } from './tenant/ref.js'
export type { BreakerOptions } from './agents/breaker.js'
export type { ProviderEndpoint } from './providers/clients.js'
export { RateLimitExceededError, type RateLimitDetails } from './budget/errors.js'
export { rateLimitHeaders, retryAfterSeconds, type RateWindowStatus } from './budget/rate-status.js'
export {
  RATE_LIMIT_KEYS,
  RATE_WINDOWS,
  RATE_MEASURES,
  type RateLimitKey,
  type RateLimitsInput,
  type AgentRateLimitsInput,
  type RateWindow,
  type RateMeasure,
} from './config/rate-limits.js'
export type { LimitSource } from './rate-limits/keys.js'
export { LlmPlans, createPlans, PLAN_CHANGE_AT, PlanExistsError, PlanInUseError, PlanNotFoundError } from './plans/index.js'
export type { PlanAssignment, PlanChangeAt, PlanChanges, PlanInput, PlanPrices, PlanPricesInput, PlanRecord } from './plans/index.js'
export { TenantNotFoundError } from './tenant/errors.js'
export {
  AUDIT_ACTIONS,
  LlmAuditLog,
  createAuditLog,
  recordAuditEvent,
  withActor,
  type AuditAction,
  type AuditActor,
  type AuditEventInput,
  type AuditEventRecord,
  type AuditOptions,
  type AuditPage,
  type AuditQuery,
} from './audit/index.js'
export {
  ApiKeyExpiredError,
  ApiKeyNotFoundError,
  ApiKeyRevokedError,
  InvalidApiKeyError,
  LlmApiKeys,
  createApiKeys,
  type ApiKeyChanges,
  type ApiKeyInput,
  type ApiKeyRecord,
  type ApiKeysOptions,
  type IssuedApiKey,
  type VerifiedApiKey,
} from './keys/index.js'
export {
  AgentConfigNotFoundError,
  AgentDisabledError,
  AgentTemplateNotFoundError,
  LlmAgentConfigs,
  createAgentConfigs,
  type AgentConfigInput,
  type AgentConfigRecord,
  type AgentTemplateInput,
  type AgentTemplateRecord,
  type CodeAgentTemplate,
} from './agent-configs/index.js'
export {
  IdempotencyConflictError,
  LlmProvisioning,
  TenantExistsError,
  createProvisioning,
  type ProvisionTenantInput,
  type ProvisionedTenant,
  type ProvisioningOptions,
} from './provisioning/index.js'
export { UnknownAgentError } from './agents/errors.js'
export {
  INVOICE_STATUSES,
  InvoiceNotFoundError,
  InvoiceStateError,
  LINE_KINDS,
  LINE_UNITS,
  LlmBilling,
  createBilling,
  invoiceHtml,
  invoiceToCsv,
  invoiceToJson,
  invoicesToCsv,
  invoicesToJson,
  type AdjustmentInput,
  type GenerateInvoicesInput,
  type GenerateInvoicesResult,
  type InvoiceHtmlOptions,
  type InvoiceJson,
  type InvoiceLineKind,
  type InvoiceLineRecord,
  type InvoiceLineUnit,
  type InvoiceListQuery,
  type InvoiceOutcome,
  type InvoicePage,
  type InvoicePeriodInput,
  type InvoicePlanVersion,
  type InvoiceRecord,
  type InvoiceRef,
  type InvoiceRunProgress,
  type InvoiceStatus,
  type InvoiceSummary,
  type VoidInvoiceOptions,
} from './billing/index.js'
export {
  LlmSessionStore,
  TenantSession,
  createSessionStore,
  SessionQuotaExceededError,
  SessionTenantRequiredError,
  type SessionExport,
  type SessionItem,
  type SessionLimits,
  type SessionLimitsInput,
  type SessionOptions,
  type SessionPage,
  type SessionStorage,
  type SessionStoreOptions,
  type SessionSummary,
} from './sessions/index.js'
export {
  DEFAULT_SERVICE_ROLE,
  TENANT_SETTING,
  TenantScopeMismatchError,
  applyRowLevelSecurity,
  rlsPath,
  rlsStatements,
  rlsTables,
  withTenantDb,
  type TenantTx,
} from './db/rls.js'
