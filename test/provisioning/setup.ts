/** What the provisioning tests share: the setup an app makes (plans, templates), a request, and row counts of every table. */
import type { TestDatabase } from '../support/databases.ts'
import { LlmProvisioning, createAgentConfigs, createApiKeys, createPlans, defineLlmConfig, type ProvisionTenantInput } from '../../src/index.ts'

export const config = defineLlmConfig({ budgets: { enforcement: 'hard' } })
export const TABLES = [
  'llm_tenants',
  'llm_tenant_plans',
  'llm_plans',
  'llm_agent_configs',
  'llm_agent_templates',
  'llm_api_keys',
  'llm_audit_events',
  'llm_executions',
  'llm_budget_counters',
  'llm_budget_holds',
  'llm_rate_limits',
]
export async function rowCounts(db: TestDatabase): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of TABLES) out[t] = Number((await db.rawQuery<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${t}`))[0].n)
  return out
}

/** Plans, database templates and a provisioning store with code templates, as an app sets them up. */
export async function setUp(db: TestDatabase) {
  const plans = createPlans(db.client, config)
  if (!(await plans.listPlans()).some((p) => p.key === 'starter')) {
    await plans.definePlan({ key: 'starter', name: 'Starter', limits: { dailyExecutions: 100 } })
    const configs = createAgentConfigs(db.client, config)
    // 'Triage' is templated in code too (the code template wins); 'Billing' only here.
    await configs.defineAgentTemplate('support-desk', 'Triage', { provider: 'openai', model: 'gpt-4o', instructions: 'From the database.' })
    await configs.defineAgentTemplate('support-desk', 'Billing', { provider: 'anthropic', model: 'claude-haiku-4-5', toolNames: ['invoice'] })
  }
  const keys = createApiKeys(db.client, { config, prefix: 'sk_test' })
  const provisioning = new LlmProvisioning(db.client, config, {
    keys,
    templates: {
      'support-desk': [
        { agentName: 'Support', provider: 'openai', model: 'gpt-4o-mini', instructions: 'Be brief.', maxOutputTokens: 512 },
        { agentName: 'Triage', provider: 'openai', model: 'gpt-4.1-mini', enabled: false },
      ],
    },
  })
  return { keys, provisioning }
}

export const request = (tenantId: string, idempotencyKey: string, extra: Partial<ProvisionTenantInput> = {}): ProvisionTenantInput => ({
  tenantId,
  idempotencyKey,
  name: `Tenant ${tenantId}`,
  plan: 'starter',
  productType: 'support-desk',
  apiKeyName: 'production',
  limits: { dailyCost: '1.50' },
  ...extra,
})
