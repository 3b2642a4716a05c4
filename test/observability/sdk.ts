/**
 * The real OpenTelemetry SDK for the observability tests: a tracer provider with an in-memory span
 * exporter behind a simple (synchronous) processor, and a meter provider whose periodic reader
 * exports to an in-memory metric exporter on `forceFlush()`. Nothing is registered globally: each
 * test hands its providers to the config (`telemetry: { tracerProvider, meterProvider }`).
 */
import { SpanKind, type Attributes } from '@opentelemetry/api'
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
  type MetricData,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'

export interface TestSdk {
  tracerProvider: BasicTracerProvider
  meterProvider: MeterProvider
  spans(): ReadableSpan[]
  /** Collects now and returns every metric of the library's scope. */
  metrics(): Promise<MetricData[]>
  shutdown(): Promise<void>
}

export function startSdk(): TestSdk {
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // A long interval: exports happen when the test flushes, not on a timer.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  return {
    tracerProvider,
    meterProvider,
    spans: () => spanExporter.getFinishedSpans(),
    async metrics() {
      metricExporter.reset()
      await meterProvider.forceFlush()
      const last = metricExporter.getMetrics().at(-1)
      return (last?.scopeMetrics ?? []).filter((s) => s.scope.name === 'prisma-llm-tenant').flatMap((s) => s.metrics)
    },
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()])
    },
  }
}

export const KIND = SpanKind

/** The metric named `name` (fails the test when absent). */
export function metric(all: MetricData[], name: string): MetricData {
  const found = all.find((m) => m.descriptor.name === name)
  if (!found) throw new Error(`no metric ${name}; have ${all.map((m) => m.descriptor.name).join(', ')}`)
  return found
}

/** Data points of a sum or gauge as [attributes, value]. */
export function points(m: MetricData): Array<{ attributes: Attributes; value: number }> {
  if (m.dataPointType === DataPointType.HISTOGRAM) throw new Error(`${m.descriptor.name} is a histogram`)
  return m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number }))
}

/** Data points of a histogram as [attributes, count, sum, boundaries]. */
export function histogramPoints(m: MetricData): Array<{ attributes: Attributes; count: number; sum: number; boundaries: number[] }> {
  if (m.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${m.descriptor.name} is not a histogram`)
  return (m as HistogramMetricData).dataPoints.map((p) => ({
    attributes: p.attributes,
    count: p.value.count,
    sum: p.value.sum ?? 0,
    boundaries: p.value.buckets.boundaries,
  }))
}

/** The value of the one point whose attributes include `match` (0 when none; fails when several). */
export function pointValue(m: MetricData, match: Attributes): number {
  const found = points(m).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
  if (found.length > 1) throw new Error(`${m.descriptor.name}: ${found.length} points match ${JSON.stringify(match)}`)
  return found[0]?.value ?? 0
}

/** The sum of every point whose attributes include `match`. */
export function sumOf(m: MetricData, match: Attributes): number {
  return points(m)
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + p.value, 0)
}

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The samples of a Prometheus text exposition. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]) })
  }
  return out
}
