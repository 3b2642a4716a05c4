/**
 * Budget events. Soft limits never block; they emit `soft_limit_reached` once per limit per period
 * bucket (deduplicated in the database, so across processes too). Hard refusals emit
 * `hard_limit_refused` for every refused call (metrics, alerting).
 */
import { EventEmitter } from 'node:events'
import type { BudgetLimitType } from './limits.js'

export interface BudgetEvent {
  type: 'soft_limit_reached' | 'hard_limit_refused'
  scope: 'tenant' | 'global' | 'agent' | 'api_key'
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

/** Where an event goes: the config's callback and emitter (LlmConfig has both). */
export interface BudgetEventSinks {
  readonly onBudgetEvent?: (event: BudgetEvent) => void
  readonly events: EventEmitter
}

export function emitBudgetEvent(config: BudgetEventSinks, event: BudgetEvent): void {
  try {
    config.onBudgetEvent?.(event)
  } finally {
    config.events.emit('budget', event)
  }
}

/** The emitter every budget event goes through (soft-limit crossings, hard refusals). */
export function createBudgetEvents(): EventEmitter {
  return new EventEmitter({ captureRejections: false })
}
