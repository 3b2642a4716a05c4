/** The plan store's errors: a plan (version) that does not exist, one that exists already, one in use. */
import { LlmTenantError } from '../foundation/errors.js'

export class PlanNotFoundError extends LlmTenantError {
  readonly key: string
  readonly version: number | null
  constructor(key: string, version: number | null = null) {
    super('PLAN_NOT_FOUND', version === null ? `No plan "${key}"` : `No version ${version} of plan "${key}"`)
    this.key = key
    this.version = version
  }
}

export class PlanExistsError extends LlmTenantError {
  readonly key: string
  constructor(key: string) {
    super('PLAN_EXISTS', `Plan "${key}" exists already: change it with updatePlan (a version in use gets a new version)`)
    this.key = key
  }
}

/** A plan some tenant is on (or is scheduled onto) cannot be deleted: move them first. */
export class PlanInUseError extends LlmTenantError {
  readonly key: string
  readonly tenantIds: string[]
  constructor(key: string, tenantIds: string[]) {
    const shown = tenantIds
      .slice(0, 5)
      .map((t) => `"${t}"`)
      .join(', ')
    super('PLAN_IN_USE', `Plan "${key}" is in use by ${tenantIds.length} tenant(s) (${shown}${tenantIds.length > 5 ? ', …' : ''}): change their plan first`)
    this.key = key
    this.tenantIds = tenantIds
  }
}
