export type { BudgetOptions, LimitValues, AgentLimitValues } from './options.js'
export type { ParsedOverride as ParsedOverrideLike } from '../tenant/ref.js'
