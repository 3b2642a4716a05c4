/**
 * Budget events. Soft limits never block; they emit `soft_limit_reached` once per limit per period
 * bucket (deduplicated in the database, so across processes too). Hard refusals emit
 * `hard_limit_refused` for every refused call (metrics, alerting).
 */
import type { LlmConfig } from '../config.js'
import type { BudgetLimitType } from './effective.js'

export interface BudgetEvent {
  type: 'soft_limit_reached' | 'hard_limit_refused'
  scope: 'tenant' | 'global' | 'agent'
  limitType: BudgetLimitType
  /** Dollars as a decimal string for cost limits; a count otherwise. */
  limit: string
  current: string
  tenantId: string | null
  agentType: string | null
  /** 'YYYY-MM-DD', 'YYYY-MM' or '*' (in-flight). */
  bucket: string
  at: Date
}

export function emitBudgetEvent(config: LlmConfig, event: BudgetEvent): void {
  try {
    config.onBudgetEvent?.(event)
  } finally {
    config.events.emit('budget', event)
  }
}
