export {
  createPrometheusMetrics,
  metricsHandler,
  MissingMetricsPeerError,
  type CollectingReader,
  type LlmMetricsEndpoint,
  type MetricsEndpointOptions,
  type PrometheusMetrics,
} from './prometheus.js'
export {
  GEN_AI,
  GEN_AI_SEMCONV_VERSION,
  INSTRUMENTATION_SCOPE,
  LLM_TENANT,
  METRICS,
  NO_TENANT,
  OPERATION_DURATION_BUCKETS,
  OTHER_TENANTS,
  REFUSAL_REASONS,
  SPAN_EVENTS,
  TOKEN_USAGE_BUCKETS,
} from '../telemetry/names.js'
export type { LlmLogger, TelemetryOptions, TenantAttributeOption } from '../telemetry/options.js'
