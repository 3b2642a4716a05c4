export { LlmProvisioning, createProvisioning, type ProvisionedTenant, type ProvisioningOptions } from './provisioning.js'
export type { ProvisionTenantInput } from './input.js'
export { IdempotencyConflictError, TenantExistsError } from './errors.js'
