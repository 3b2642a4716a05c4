/**
 * What the billing tests share: a world on one database with a movable clock (plan changes take
 * effect at the clock's instant, as in production), ledger rows at chosen instants, and row counts
 * of every table a billing call could write.
 */
import type { TestDatabase } from '../support/databases.ts'
import { createBilling, createLedger, createPlans, defineLlmConfig, type LlmConfig } from '../../src/index.ts'

export const BILLING_TABLES = ['llm_invoices', 'llm_invoice_lines', 'llm_audit_events', 'llm_plans', 'llm_tenant_plans', 'llm_tenants', 'llm_executions']

export async function rowCounts(db: TestDatabase): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of BILLING_TABLES) out[t] = Number((await db.rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${t}`))[0].n)
  return out
}

export interface Row {
  tenantId: string
  at: string | Date
  tokens?: number
  cost?: string
  status?: 'success' | 'error' | 'timeout' | 'cancelled' | 'refused' | 'running'
}

export function world(db: TestDatabase, timeZone = 'UTC') {
  let clock = new Date('2026-01-01T00:00:00Z')
  const config: LlmConfig = defineLlmConfig({ timeZone, now: () => clock })
  const plans = createPlans(db.client, config)
  const ledger = createLedger(db.client, config)
  const billing = createBilling(db.client, config)
  return {
    config,
    plans,
    ledger,
    billing,
    /** Moves the clock (plan changes and invoice timestamps happen at it). */
    at(instant: string | Date) {
      clock = new Date(instant)
      return clock
    },
    async record(rows: readonly Row[]) {
      if (rows.length === 0) return
      await ledger.recordExecutions(
        rows.map((r) => {
          const running = r.status === 'running'
          return {
            tenantId: r.tenantId,
            agentType: 'Chat',
            model: 'gpt-4o-mini',
            status: r.status ?? 'success',
            // A running row carries nothing until it settles; a refused one consumed nothing.
            totalTokens: running || r.status === 'refused' ? 0 : (r.tokens ?? 0),
            totalCost: running || r.status === 'refused' ? '0' : (r.cost ?? '0'),
            startedAt: new Date(r.at),
            ...(running ? {} : { durationMs: 10 }),
          }
        }),
      )
    },
  }
}
