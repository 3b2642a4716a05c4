/**
 * The instruments of one meter provider (created once per provider and config), the gauges shared
 * by every config recording to a provider, and the bounds on the metric attributes that do not
 * come from the tenant: the provider name is folded to the known providers, and the model and
 * agent-type values are capped per config (the first `labelLimit` distinct values keep their own
 * label, every later one is `_OTHER`) — a model name comes from the caller's input and an agent
 * type from tenants' agent configs, so neither may grow the series count without bound.
 */
import { createNoopMeter, ValueType, type Counter, type Histogram, type Meter, type MeterProvider } from '@opentelemetry/api'
import { INSTRUMENTATION_SCOPE, METRICS, OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS } from './names.js'

/** The value a bounded attribute takes past its limit (the conventions' spelling for "another value"). */
const OTHER_VALUE = '_OTHER'
/** The providers the library knows: any other `gen_ai.provider.name` is `_OTHER` on metrics. */
const KNOWN_PROVIDERS: ReadonlySet<string> = new Set(['openai', 'anthropic'])

/** `gen_ai.provider.name` on metrics: a known provider, else `_OTHER`. */
export function foldProvider(provider: string): string {
  return KNOWN_PROVIDERS.has(provider) ? provider : OTHER_VALUE
}

/** The first `limit` distinct values keep their label; every later one is `_OTHER` (bounded series and memory). */
export class BoundedValues {
  private readonly seen = new Set<string>()
  constructor(private readonly limit: number) {}

  label(value: string): string {
    if (this.seen.has(value)) return value
    if (this.seen.size >= this.limit) return OTHER_VALUE
    this.seen.add(value)
    return value
  }
}

export interface Instruments {
  provider: MeterProvider
  /** False for the API's no-op meter: nothing is recorded, no attributes are built. */
  on: boolean
  tokenUsage: Histogram
  operationDuration: Histogram
  cost: Counter
  executions: Counter
  refusals: Counter
  rateLimitRefusals: Counter
}

/** What the gauges observe of a config. */
export interface GaugeSource {
  readonly holdsOpen: number
  readonly settlesPending: number
}

const NoopMeter = createNoopMeter().constructor as abstract new (...args: never[]) => unknown

export function createInstruments(provider: MeterProvider, source: GaugeSource): Instruments {
  const meter = provider.getMeter(INSTRUMENTATION_SCOPE)
  const instruments: Instruments = {
    provider,
    on: !(meter instanceof NoopMeter),
    tokenUsage: meter.createHistogram(METRICS.tokenUsage, {
      unit: '{token}',
      description: 'Measures number of input and output tokens used',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: TOKEN_USAGE_BUCKETS },
    }),
    operationDuration: meter.createHistogram(METRICS.operationDuration, {
      unit: 's',
      description: 'GenAI operation duration',
      advice: { explicitBucketBoundaries: OPERATION_DURATION_BUCKETS },
    }),
    cost: meter.createCounter(METRICS.cost, {
      unit: 'USD',
      description: 'Cost of settled LLM calls in US dollars (a double; the ledger keeps the exact figure)',
    }),
    executions: meter.createCounter(METRICS.executions, { unit: '{execution}', description: 'Tracked LLM calls by final status (refused included)' }),
    refusals: meter.createCounter(METRICS.refusals, { unit: '{execution}', description: 'Calls refused before the provider was contacted, by reason' }),
    rateLimitRefusals: meter.createCounter(METRICS.rateLimitRefusals, { unit: '{execution}', description: 'Calls refused by a rate window, by window' }),
  }
  if (instruments.on) observeGauges(provider, meter, source)
  return instruments
}

/**
 * The gauges of each meter provider, over every config that records to it: the SDK keeps only the
 * last observation of an attribute set per collection, so two configs on one provider (a runtime
 * and a second budget, two test suites) must report through one callback that sums them. A config
 * is counted once however often its instruments are created again for the provider (a global
 * provider swapped back and forth); a dropped config is not kept alive.
 */
interface Gauges {
  refs: Set<WeakRef<GaugeSource>>
  members: WeakSet<GaugeSource>
}
const gaugeSources = new WeakMap<MeterProvider, Gauges>()

function observeGauges(provider: MeterProvider, meter: Meter, source: GaugeSource): void {
  let gauges = gaugeSources.get(provider)
  if (!gauges) {
    const g: Gauges = { refs: new Set(), members: new WeakSet() }
    gauges = g
    gaugeSources.set(provider, g)
    const sum = (of: (t: GaugeSource) => number) => {
      let n = 0
      for (const ref of g.refs) {
        const t = ref.deref()
        if (t) n += of(t)
        else g.refs.delete(ref)
      }
      return n
    }
    meter
      .createObservableUpDownCounter(METRICS.openHolds, { unit: '{hold}', description: "This process's admitted calls not yet settled" })
      .addCallback((r) => r.observe(sum((t) => t.holdsOpen)))
    meter
      .createObservableUpDownCounter(METRICS.pendingSettles, { unit: '{settle}', description: 'Outcomes waiting for the database to settle' })
      .addCallback((r) => r.observe(sum((t) => t.settlesPending)))
  }
  if (gauges.members.has(source)) return
  gauges.members.add(source)
  gauges.refs.add(new WeakRef(source))
}
