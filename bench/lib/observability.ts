/**
 * Scenario 13: the cost of observability. (a) Per-call p50 of an agent run (the real runtime
 * against the provider emulator on 127.0.0.1: tenant, admission, the SDK request, pricing, settle)
 * with a real OpenTelemetry SDK installed — a tracer provider exporting to an in-memory span
 * exporter, and a meter provider with a periodic reader exporting to an in-memory metric exporter
 * — ÷ the same run with no SDK (the API's no-op). Goal ≤ 1.10 with the span processor production
 * uses (BatchSpanProcessor); also reported with SimpleSpanProcessor (an export per span, on the
 * call's path: the worst case). (b) The same ratio for a bare `budget.track` call (no span of its
 * own: its metrics only), a harder figure since the call itself is cheaper. The variants alternate
 * call by call in rounds (A B C, then B C A, …), so each sees the same machine load at the same
 * moment, which rounds of whole blocks cannot promise on a shared 2-core machine; each round's ratio
 * is the variant's p50 ÷ the no-SDK p50 of the same round. (c) What the instrumentation of one run
 * costs by itself — the calls a run makes to it, timed alone in a loop — with no SDK and with one
 * (most of that is the SDK's own span processing and attribute hashing).
 */
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { createLlmRuntime, defineLlmConfig, LlmBudgets, TenantStore, type Agent } from '../../src/index.ts'
import type { LlmTelemetry } from '../../src/telemetry/telemetry.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { openDatabase, type DbKind } from '../../test/support/databases.ts'
import { call, PER_CALL_CONFIG, usage, type Mode } from '../scenarios.ts'
import { percentile, type Figure } from './stats.ts'

const SCENARIO = '13 observability'
const TENANTS = 8

function sdk() {
  const batchedSpans = new InMemorySpanExporter()
  const simpleSpans = new InMemorySpanExporter()
  const batched = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(batchedSpans)] })
  const simple = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(simpleSpans)] })
  const spans = { reset: () => (batchedSpans.reset(), simpleSpans.reset()) }
  // Exports every 10 s like a real pipeline would (a collection during a round is part of the cost).
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 10_000 })] })
  return { batched, simple, meterProvider, spans, shutdown: () => Promise.all([batched.shutdown(), simple.shutdown(), meterProvider.shutdown()]) }
}

/** The variants call by call, the order rotating each time, in rounds of `n`: each variant's p50 per round (µs). */
async function interleave(rounds: number, n: number, variants: Array<(i: number) => Promise<unknown>>): Promise<number[][]> {
  const p50s = variants.map(() => [] as number[])
  for (let r = 0; r < rounds; r++) {
    const latencies = variants.map(() => [] as number[])
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < variants.length; k++) {
        const v = (i + k) % variants.length
        const t = performance.now()
        await variants[v](r * n + i)
        latencies[v].push(performance.now() - t)
      }
    }
    latencies.forEach((l, v) =>
      p50s[v].push(
        percentile(
          l.sort((x, y) => x - y),
          50,
        ) * 1000,
      ),
    )
  }
  return p50s
}

const ratio = (b: number[], a: number[]) => b.map((v, i) => v / a[i])

/** (c): the telemetry calls of one run with one attempt, timed alone, in ns per run. */
function instrumentationCost(telemetry: LlmTelemetry, reset: () => void): number {
  const attrs = { tenantId: 'tenant-0', agentType: 'Bench', model: 'gpt-4o-mini', provider: 'openai' }
  const settled = { executionId: 'e', status: 'success', costNanos: 1000n, inputTokens: 10, outputTokens: 5, pending: false }
  const once = () => {
    const run = telemetry.startRun({ name: 'Bench' })
    telemetry.prepared(run, { provider: 'openai', model: 'gpt-4o-mini' }, 'tenant-0')
    const span = telemetry.startAttempt(run, {
      provider: 'openai',
      model: 'gpt-4o-mini',
      agentType: 'Bench',
      tenantId: 'tenant-0',
      maxTokens: 1024,
      stream: false,
      step: 1,
      attempt: 1,
    })
    telemetry.admitted(span, 'e', 1000n, 100n)
    telemetry.providerCall({
      operation: 'chat',
      provider: 'openai',
      requestModel: 'gpt-4o-mini',
      responseModel: 'gpt-4o-mini',
      seconds: 0.001,
      inputTokens: 10,
      outputTokens: 5,
      errorType: null,
    })
    telemetry.settled(span, attrs, settled)
    telemetry.end(span)
    telemetry.end(run)
  }
  for (let i = 0; i < 5_000; i++) once()
  const n = 20_000
  let total = 0n
  for (let i = 0; i < n; i += 1000) {
    reset()
    const t = process.hrtime.bigint()
    for (let j = 0; j < 1000; j++) once()
    total += process.hrtime.bigint() - t
  }
  return Number(total) / n
}

export async function observabilityScenario(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const db = await openDatabase(kind)
  const emulator = await new ProviderEmulator().start()
  const installed = sdk()
  try {
    if (kind === 'sqlite') await db.rawQuery('PRAGMA journal_mode = WAL') // the recommended setup, as in scenario 1
    const store = new TenantStore(db.client)
    for (let t = 0; t < TENANTS; t++) await store.upsert({ tenantId: `tenant-${t}` })
    const providers = { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-bench-observability-0001' } }
    const configOf = (telemetry?: object) => defineLlmConfig({ ...PER_CALL_CONFIG, ...(telemetry ? { telemetry } : {}) })
    const agentOf = (config: ReturnType<typeof configOf>): Agent =>
      createLlmRuntime(db.client, { config, providers }).defineAgent({ name: 'Bench', provider: 'openai', model: 'gpt-4o-mini' })
    const metered = { meterProvider: installed.meterProvider, tenantAttribute: { topN: 10 } }
    const batchedConfig = configOf({ ...metered, tracerProvider: installed.batched })
    const simpleConfig = configOf({ ...metered, tracerProvider: installed.simple })
    const agents = [agentOf(configOf()), agentOf(batchedConfig), agentOf(simpleConfig)]
    const runs = agents.map((agent) => (i: number) => {
      if (i % 500 === 0) installed.spans.reset() // the in-memory exporter would otherwise hold every span of the run
      return agent.run('hello', { tenant: `tenant-${i % TENANTS}` })
    })
    for (let i = 0; i < 100; i++) for (const run of runs) await run(i) // warm every variant (JIT, statements, sockets)
    const [plain, batched, simple] = await interleave(mode.quick ? 7 : 11, Math.min(mode.calls, 200), runs)

    const budgets = [new LlmBudgets(db.client, configOf()), new LlmBudgets(db.client, configOf(metered))]
    const tracks = budgets.map((b) => (i: number) => b.track(`tenant-${i % TENANTS}`, call, usage))
    for (let i = 0; i < 100; i++) for (const track of tracks) await track(i)
    const [untracked, trackedMetered] = await interleave(mode.quick ? 5 : 9, mode.calls, tracks)
    return [
      { scenario: SCENARIO, db: kind, metric: 'agent run p50, no SDK', unit: 'µs', runs: plain },
      { scenario: SCENARIO, db: kind, metric: 'agent run p50, SDK (BatchSpanProcessor) + in-memory exporters', unit: 'µs', runs: batched },
      { scenario: SCENARIO, db: kind, metric: 'per-call p50 with an SDK ÷ without (agent run)', unit: '×', runs: ratio(batched, plain) },
      { scenario: SCENARIO, db: kind, metric: 'the same with SimpleSpanProcessor (an export per span)', unit: '×', runs: ratio(simple, plain) },
      { scenario: SCENARIO, db: kind, metric: 'budget.track p50, no SDK', unit: 'µs', runs: untracked },
      {
        scenario: SCENARIO,
        db: kind,
        metric: 'per-call p50 with an SDK ÷ without (budget.track, metrics only)',
        unit: '×',
        runs: ratio(trackedMetered, untracked),
      },
      {
        scenario: SCENARIO,
        db: kind,
        metric: 'instrumentation of one run with no SDK (no-op API), timed alone',
        unit: 'ns',
        runs: [instrumentationCost(configOf().telemetry, () => undefined)],
      },
      {
        scenario: SCENARIO,
        db: kind,
        // SimpleSpanProcessor: in a loop that never yields, a batch processor's queue fills and drops spans.
        metric: 'instrumentation of one run with the SDK (2 spans exported, 5 records), timed alone',
        unit: 'ns',
        runs: [instrumentationCost(simpleConfig.telemetry, () => installed.spans.reset())],
      },
    ]
  } finally {
    await installed.shutdown()
    await emulator.close()
    await db.close()
  }
}
