export { LlmPlans, createPlans, PLAN_CHANGE_AT, type PlanChangeAt } from './plans.js'
export type { PlanInput, PlanChanges, PlanPricesInput } from './plan-input.js'
export type { PlanRecord, PlanAssignment, PlanPrices } from './plan-record.js'
export { PlanExistsError, PlanInUseError, PlanNotFoundError } from './errors.js'
