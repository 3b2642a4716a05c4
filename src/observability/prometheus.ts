/**
 * `/metrics` in the Prometheus text format, over the OpenTelemetry Prometheus exporter — not
 * prom-client: the library records every metric once, through `@opentelemetry/api`, so the scrape
 * shows exactly what an OTLP pipeline would receive (the GenAI histograms with their semconv
 * buckets, the same names and attributes); with prom-client every instrument would exist twice,
 * in two registries that can drift.
 *
 * `@opentelemetry/sdk-metrics` and `@opentelemetry/exporter-prometheus` are optional peer
 * dependencies, loaded on first use: an app that only traces, or exports OTLP, installs neither.
 * The endpoint is a Fetch handler `(Request) => Promise<Response>`, like the HTTP API; the API's
 * handler mounts it at `{basePath}/metrics` (LlmHttpOptions.metrics).
 *
 * Tenant ids as labels are bounded by the config's `telemetry.tenantAttribute` (allowlist / topN):
 * the endpoint never adds labels of its own.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MeterProvider } from '@opentelemetry/api'
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'

const PEERS = ['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus'] as const

/** The optional peers of `prisma-llm-tenant/observability`'s Prometheus endpoint are not installed. */
export class MissingMetricsPeerError extends LlmTenantError {
  readonly packageNames: readonly string[] = PEERS
  readonly installCommand = `npm install ${PEERS.join(' ')}`
  constructor(missing: string) {
    super('MISSING_METRICS_PEER', `The Prometheus endpoint needs ${missing} (run \`npm install ${PEERS.join(' ')}\`)`)
  }
}

/** What the endpoint needs of an OpenTelemetry MetricReader (a `PrometheusExporter`, or any reader). */
export interface CollectingReader {
  collect(): Promise<{ resourceMetrics: unknown; errors: unknown[] }>
}

export interface MetricsEndpointOptions {
  /** A token every scrape must send as `Authorization: Bearer <token>` (at least 16 characters). Default: none. */
  bearerToken?: string
}

/** `GET /metrics` as a Fetch handler: 200 with the text format, 401 without the token, 405 for other methods. */
export type LlmMetricsEndpoint = (request: Request) => Promise<Response>

export interface PrometheusMetrics {
  /** Give it to the config (`telemetry: { meterProvider }`) or register it globally. */
  readonly meterProvider: MeterProvider
  /** The scrape endpoint; pass it as LlmHttpOptions.metrics, or mount it on a port of its own. */
  readonly handler: LlmMetricsEndpoint
  /** Stops the meter provider (its instruments record nothing afterwards). */
  shutdown(): Promise<void>
}

interface Peers {
  MeterProvider: new (options: { readers: unknown[] }) => MeterProvider & { shutdown(): Promise<void> }
  PrometheusExporter: new (config: { preventServerStart: boolean }) => CollectingReader
  PrometheusSerializer: new () => { serialize(resourceMetrics: unknown): string }
}

const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8'

async function importPeer(name: (typeof PEERS)[number]): Promise<Record<string, unknown>> {
  try {
    return (await import(name)) as Record<string, unknown>
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown }
    if ((e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes(name)) throw new MissingMetricsPeerError(name)
    throw err
  }
}

async function loadPeers(): Promise<Peers> {
  const [sdk, exporter] = await Promise.all(PEERS.map(importPeer))
  return { MeterProvider: sdk.MeterProvider, PrometheusExporter: exporter.PrometheusExporter, PrometheusSerializer: exporter.PrometheusSerializer } as Peers
}

function tokenOf(options: MetricsEndpointOptions): Buffer | null {
  assertQuery(options, ['bearerToken'], 'options')
  const token = options.bearerToken
  if (token === undefined) return null
  if (typeof token !== 'string' || token.length < 16 || /\s/.test(token)) {
    throw new InvalidArgumentError('options.bearerToken', 'a string of at least 16 characters without spaces', '(hidden)')
  }
  return createHash('sha256').update(token).digest()
}

/** Compares digests (equal length), so the time taken says nothing about the token. */
function authorized(request: Request, digest: Buffer | null): boolean {
  if (digest === null) return true
  const given = /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
  return given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), digest)
}

/** Marks the endpoints that check a bearer token (the HTTP API serves no other one). */
const TOKEN_CHECKED = Symbol('prisma-llm-tenant.metrics.bearerToken')

/** Whether `handler` is an endpoint of this module that asks every scrape for its bearer token. */
export function checksBearerToken(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as { [TOKEN_CHECKED]?: boolean })[TOKEN_CHECKED] === true
}

function endpoint(reader: CollectingReader, serializer: { serialize(resourceMetrics: unknown): string }, digest: Buffer | null): LlmMetricsEndpoint {
  const handler: LlmMetricsEndpoint = async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Use GET\n', { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' } })
    }
    if (!authorized(request, digest)) {
      return new Response('Unauthorized\n', { status: 401, headers: { 'www-authenticate': 'Bearer', 'content-type': 'text/plain; charset=utf-8' } })
    }
    const { resourceMetrics } = await reader.collect()
    const body = request.method === 'HEAD' ? null : serializer.serialize(resourceMetrics)
    return new Response(body, { status: 200, headers: { 'content-type': TEXT_FORMAT, 'cache-control': 'no-store' } })
  }
  return Object.defineProperty(handler, TOKEN_CHECKED, { value: digest !== null })
}

/**
 * A meter provider with a Prometheus reader, and its `/metrics` endpoint: the whole setup for an
 * app that wants Prometheus and nothing else.
 */
export async function createPrometheusMetrics(options: MetricsEndpointOptions = {}): Promise<PrometheusMetrics> {
  const digest = tokenOf(options)
  const peers = await loadPeers()
  const reader = new peers.PrometheusExporter({ preventServerStart: true })
  const meterProvider = new peers.MeterProvider({ readers: [reader] })
  return { meterProvider, handler: endpoint(reader, new peers.PrometheusSerializer(), digest), shutdown: () => meterProvider.shutdown() }
}

/**
 * The `/metrics` endpoint for a reader the app attached to its own meter provider (e.g.
 * `new PrometheusExporter({ preventServerStart: true })` beside its OTLP reader). Without a
 * `bearerToken` anyone who reaches it can scrape (agent types, models, spend, and tenant ids with
 * a tenant attribute): serve it on an internal port only. The HTTP API (LlmHttpOptions.metrics)
 * accepts only an endpoint with a token.
 */
export async function metricsHandler(reader: CollectingReader, options: MetricsEndpointOptions = {}): Promise<LlmMetricsEndpoint> {
  if (typeof (reader as { collect?: unknown })?.collect !== 'function') {
    throw new InvalidArgumentError('reader', 'an OpenTelemetry MetricReader (e.g. a PrometheusExporter) attached to a MeterProvider', reader)
  }
  const digest = tokenOf(options)
  const { PrometheusSerializer } = await loadPeers()
  return endpoint(reader, new PrometheusSerializer(), digest)
}
