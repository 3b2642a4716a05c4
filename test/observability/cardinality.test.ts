/**
 * The tenant attribute never makes metrics unbounded. 50,000 tenants go through the recording path
 * that derives the attributes (the config's telemetry, as `track` calls it at settle and refusal):
 * with `topN: 10` every metric has at most 2·10 + 2 tenant values (the ids, `other`, `none`) and a
 * bounded series count, the heavy spenders keep their own label, and the rest is `other`. Then the
 * same through real tracked calls on both databases, and the allowlist and default (off) modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineLlmConfig, LlmBudgets, TenantStore } from '../../src/index.ts'
import { LLM_TENANT, METRICS } from '../../src/observability/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'
import { metric, points, startSdk, sumOf, type TestSdk } from './sdk.ts'
import type { MetricData } from '@opentelemetry/sdk-metrics'

const tenantValues = (m: MetricData) => new Set(points(m).map((p) => p.attributes[LLM_TENANT.tenantId]))
const HEAVY = Array.from({ length: 10 }, (_, i) => `heavy-${i}`)

describe('50,000 tenants, topN 10', () => {
  let sdk: TestSdk
  beforeAll(() => void (sdk = startSdk()))
  afterAll(async () => sdk.shutdown())

  it('series stay bounded; the heavy spenders have their own label; everything else is other', async () => {
    const { telemetry } = defineLlmConfig({ telemetry: { meterProvider: sdk.meterProvider, tenantAttribute: { topN: 10 } } })
    const call = (tenantId: string | null, i: number) => ({ tenantId, agentType: `Agent${i % 3}`, model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini', provider: 'openai' })
    let heavySpend = 0n
    for (let i = 0; i < 50_000; i++) {
      const tenant = `tenant-${i}`
      telemetry.admitted(undefined, `e-${i}`, 1000n, 10n)
      telemetry.settled(undefined, call(tenant, i), {
        executionId: `e-${i}`,
        status: i % 10 ? 'success' : 'error',
        costNanos: BigInt(1 + (i % 97)) * 1000n,
        inputTokens: 1,
        outputTokens: 1,
        pending: false,
      })
      if (i % 7 === 0)
        telemetry.refused(undefined, call(tenant, i), { executionId: `r-${i}`, reason: 'rate_limit', scope: 'tenant', rateLimitName: 'requestsPerMinute' })
      if (i % 5 === 0) {
        const heavy = HEAVY[(i / 5) % HEAVY.length]
        telemetry.admitted(undefined, `h-${i}`, 1000n, 10n)
        telemetry.settled(undefined, call(heavy, i), {
          executionId: `h-${i}`,
          status: 'success',
          costNanos: 500_000n,
          inputTokens: 1,
          outputTokens: 1,
          pending: false,
        })
        heavySpend += 500_000n
      }
    }
    telemetry.admitted(undefined, 'none', 0n, 0n)
    telemetry.settled(undefined, call(null, 0), { executionId: 'none', status: 'success', costNanos: 1n, inputTokens: 0, outputTokens: 0, pending: false })
    const all = await sdk.metrics()
    for (const name of [METRICS.cost, METRICS.executions, METRICS.refusals, METRICS.rateLimitRefusals]) {
      const values = tenantValues(metric(all, name))
      expect(values.size, name).toBeLessThanOrEqual(2 * 10 + 2)
      expect(values.has('other'), name).toBe(true)
    }
    // Series: tenant values × agent types (3) × models (2) × statuses (3: success, error, refused) at most.
    expect(points(metric(all, METRICS.executions)).length).toBeLessThanOrEqual(22 * 3 * 2 * 3)
    expect(points(metric(all, METRICS.cost)).length).toBeLessThanOrEqual(22 * 3 * 2)
    const cost = metric(all, METRICS.cost)
    for (const heavy of HEAVY) expect(sumOf(cost, { [LLM_TENANT.tenantId]: heavy }), heavy).toBeGreaterThan(0)
    expect(sumOf(cost, { [LLM_TENANT.tenantId]: 'none' })).toBeCloseTo(1e-9, 15)
    // Nothing is lost by folding: the total is the sum of every call's cost.
    let total = heavySpend + 1n
    for (let i = 0; i < 50_000; i++) total += BigInt(1 + (i % 97)) * 1000n
    expect(sumOf(cost, {})).toBeCloseTo(Number(total) / 1e9, 9)
    expect(sumOf(metric(all, METRICS.openHolds), {})).toBe(0)
  }, 60_000)

  it('an allowlist keeps exactly its tenants; off (the default) has no tenant attribute', async () => {
    const allow = defineLlmConfig({ telemetry: { meterProvider: sdk.meterProvider, tenantAttribute: { allowlist: ['vip-1', 'vip-2'] } } }).telemetry
    const off = defineLlmConfig({ telemetry: { meterProvider: sdk.meterProvider } }).telemetry
    for (let i = 0; i < 5_000; i++) {
      const c = { tenantId: i % 100 === 0 ? 'vip-1' : `t-${i}`, agentType: 'Allow', model: 'm', provider: null }
      allow.admitted(undefined, `a-${i}`, 0n, 0n)
      allow.settled(undefined, c, { executionId: `a-${i}`, status: 'success', costNanos: 1000n, inputTokens: 0, outputTokens: 0, pending: false })
      off.admitted(undefined, `o-${i}`, 0n, 0n)
      off.settled(
        undefined,
        { ...c, agentType: 'Off' },
        { executionId: `o-${i}`, status: 'success', costNanos: 1000n, inputTokens: 0, outputTokens: 0, pending: false },
      )
    }
    const executions = metric(await sdk.metrics(), METRICS.executions)
    const allowed = points(executions).filter((p) => p.attributes[LLM_TENANT.agentType] === 'Allow')
    expect(new Set(allowed.map((p) => p.attributes[LLM_TENANT.tenantId]))).toEqual(new Set(['vip-1', 'other']))
    expect(sumOf(executions, { [LLM_TENANT.agentType]: 'Allow', [LLM_TENANT.tenantId]: 'vip-1' })).toBe(50)
    const offPoints = points(executions).filter((p) => p.attributes[LLM_TENANT.agentType] === 'Off')
    expect(offPoints).toHaveLength(1)
    expect(offPoints[0].attributes[LLM_TENANT.tenantId]).toBeUndefined()
    expect(offPoints[0].value).toBe(5_000)
  })
})

describe('5,000 distinct models and agent types, an unknown provider', () => {
  let sdk: TestSdk
  beforeAll(() => void (sdk = startSdk()))
  afterAll(async () => sdk.shutdown())

  it('the first labelLimit values keep their label, the rest are _OTHER; providers fold to the known ones', async () => {
    const { telemetry } = defineLlmConfig({ telemetry: { meterProvider: sdk.meterProvider, labelLimit: 10 } })
    for (let i = 0; i < 5_000; i++) {
      const call = { tenantId: null, agentType: `agent-${i}`, model: `model-${i}`, provider: i % 2 ? 'openai' : `vendor-${i}` }
      telemetry.admitted(undefined, `m-${i}`, 0n, 0n)
      telemetry.settled(undefined, call, { executionId: `m-${i}`, status: 'success', costNanos: 1n, inputTokens: 1, outputTokens: 1, pending: false })
      telemetry.providerCall({
        operation: 'chat',
        provider: call.provider,
        requestModel: call.model,
        responseModel: call.model,
        seconds: 0.1,
        inputTokens: 1,
        outputTokens: 1,
        errorType: null,
      })
    }
    const all = await sdk.metrics()
    const executions = points(metric(all, METRICS.executions))
    const values = (k: string) => new Set(executions.map((p) => p.attributes[k]))
    expect(values('gen_ai.request.model').size).toBe(11)
    expect(values('gen_ai.request.model').has('_OTHER')).toBe(true)
    expect(values(LLM_TENANT.agentType).size).toBe(11)
    expect(values('gen_ai.provider.name')).toEqual(new Set(['openai', '_OTHER']))
    expect(executions.length).toBeLessThanOrEqual(11 * 11 * 2)
    expect(sumOf(metric(all, METRICS.executions), {})).toBe(5_000)
    const duration = metric(all, METRICS.operationDuration)
    expect(duration.dataPoints.length).toBeLessThanOrEqual(11 * 11 * 2)
    expect(() => defineLlmConfig({ telemetry: { labelLimit: 0 } })).toThrow(/config\.telemetry\.labelLimit.*integer from 1 to 1000/)
  })
})

describe.each(DATABASES)('real tracked calls of 300 tenants, topN 5, on %s', (kind) => {
  const db = useDatabase(kind)
  let sdk: TestSdk
  beforeAll(() => void (sdk = startSdk()))
  afterAll(async () => sdk.shutdown())

  it('at most 2·5 + 2 tenant values, and the big spender is named', async () => {
    await new TenantStore(db().client).upsert({ tenantId: 'whale' })
    const budgets = new LlmBudgets(db().client, { telemetry: { meterProvider: sdk.meterProvider, tenantAttribute: { topN: 5 } } })
    const usage = (cost: string) => async (c: { reportUsage(u: object): void }) => c.reportUsage({ inputTokens: 10, outputTokens: 5, inputCost: cost })
    for (let i = 0; i < 300; i++) {
      await budgets.track(`tenant-${i}`, { agentType: 'Bulk', model: 'm' }, usage('0.000001'))
      if (i % 10 === 0) await budgets.track('whale', { agentType: 'Bulk', model: 'm' }, usage('0.01'))
    }
    const all = await sdk.metrics()
    const values = tenantValues(metric(all, METRICS.executions))
    expect(values.size).toBeLessThanOrEqual(12)
    expect(values.has('whale')).toBe(true)
    expect(sumOf(metric(all, METRICS.cost), { [LLM_TENANT.tenantId]: 'whale' })).toBeCloseTo(0.3, 9)
    expect(sumOf(metric(all, METRICS.executions), {})).toBe(330)
  }, 120_000)
})
