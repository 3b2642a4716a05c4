-- prisma-llm-tenant DDL for SQLite. Matches prisma/schema/llm-tenant.prisma exactly
-- (test/schema/ddl-matches-schema.test.ts proves it). Idempotent: safe to run twice.

CREATE TABLE IF NOT EXISTS "llm_tenants" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT,
    "tenant_record_type" TEXT,
    "tenant_record_id" TEXT,
    "daily_cost_limit_nanos" BIGINT,
    "monthly_cost_limit_nanos" BIGINT,
    "daily_token_limit" BIGINT,
    "monthly_token_limit" BIGINT,
    "daily_execution_limit" BIGINT,
    "monthly_execution_limit" BIGINT,
    "max_concurrent" BIGINT,
    "agent_limits" JSONB,
    "rate_limits" JSONB,
    "agent_rate_limits" JSONB,
    "enforcement" TEXT,
    "inherit_global" BOOLEAN NOT NULL DEFAULT true,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "metadata" JSONB,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS "llm_executions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT,
    "agent_type" TEXT NOT NULL,
    "provider" TEXT,
    "model" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "input_tokens" INTEGER NOT NULL DEFAULT 0,
    "output_tokens" INTEGER NOT NULL DEFAULT 0,
    "cached_input_tokens" INTEGER NOT NULL DEFAULT 0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "input_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "output_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "total_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "duration_ms" INTEGER,
    "started_at" DATETIME NOT NULL,
    "completed_at" DATETIME,
    "error_class" TEXT,
    "error_message" TEXT,
    "trace_id" TEXT,
    "parent_id" TEXT,
    "metadata" JSONB,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "api_key_id" TEXT
);

CREATE TABLE IF NOT EXISTS "llm_budget_counters" (
    "scope" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "agent_type" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "bucket" TEXT NOT NULL,
    "spent_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "spent_tokens" BIGINT NOT NULL DEFAULT 0,
    "spent_executions" BIGINT NOT NULL DEFAULT 0,
    "reserved_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "reserved_tokens" BIGINT NOT NULL DEFAULT 0,
    "reserved_executions" BIGINT NOT NULL DEFAULT 0,
    "alerted" TEXT NOT NULL DEFAULT '',
    "updated_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("scope", "tenant_id", "agent_type", "period", "bucket")
);

CREATE TABLE IF NOT EXISTS "llm_usage_days" (
    "time_zone" TEXT NOT NULL,
    "day" TEXT NOT NULL,
    "agent_type" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "day_start_ms" BIGINT NOT NULL,
    "day_end_ms" BIGINT NOT NULL,
    "cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "executions" BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("time_zone", "day", "agent_type", "model", "status")
);

CREATE TABLE IF NOT EXISTS "llm_budget_holds" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT,
    "agent_type" TEXT NOT NULL,
    "counters" TEXT NOT NULL,
    "cost_nanos" BIGINT NOT NULL,
    "tokens" BIGINT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'open',
    "expires_at" DATETIME NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "llm_plans" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "key" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "daily_cost_limit_nanos" BIGINT,
    "monthly_cost_limit_nanos" BIGINT,
    "daily_token_limit" BIGINT,
    "monthly_token_limit" BIGINT,
    "daily_execution_limit" BIGINT,
    "monthly_execution_limit" BIGINT,
    "max_concurrent" BIGINT,
    "agent_limits" JSONB,
    "rate_limits" JSONB,
    "agent_rate_limits" JSONB,
    "enforcement" TEXT,
    "currency" TEXT NOT NULL DEFAULT 'USD',
    "base_fee_nanos" BIGINT,
    "included_tokens" BIGINT,
    "included_cost_nanos" BIGINT,
    "overage_per_1k_tokens_nanos" BIGINT,
    "cost_markup_ppm" BIGINT,
    "metadata" JSONB,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "session_limits" JSONB
);

CREATE TABLE IF NOT EXISTS "llm_tenant_plans" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "plan_id" TEXT NOT NULL,
    "plan_key" TEXT NOT NULL,
    "plan_version" INTEGER NOT NULL,
    "effective_from" DATETIME NOT NULL,
    "effective_to" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "llm_rate_limits" (
    "scope" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "agent_type" TEXT NOT NULL,
    "measure" TEXT NOT NULL,
    "window" TEXT NOT NULL,
    "tat_ns" BIGINT NOT NULL DEFAULT 0,
    "limit_value" BIGINT NOT NULL DEFAULT 0,
    "updated_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("scope", "tenant_id", "agent_type", "measure", "window")
);

CREATE TABLE IF NOT EXISTS "llm_api_keys" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "start" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" DATETIME,
    "revoked_at" DATETIME,
    "last_used_at" DATETIME,
    "replaced_by" TEXT,
    "daily_cost_limit_nanos" BIGINT,
    "monthly_cost_limit_nanos" BIGINT,
    "daily_token_limit" BIGINT,
    "monthly_token_limit" BIGINT,
    "daily_execution_limit" BIGINT,
    "monthly_execution_limit" BIGINT,
    "rate_limits" JSONB,
    "metadata" JSONB
);

CREATE TABLE IF NOT EXISTS "llm_agent_configs" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "agent_name" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "instructions" TEXT,
    "tool_names" JSONB,
    "max_output_tokens" INTEGER,
    "fallback_models" JSONB,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "metadata" JSONB,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS "llm_agent_templates" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "product_type" TEXT NOT NULL,
    "agent_name" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "instructions" TEXT,
    "tool_names" JSONB,
    "max_output_tokens" INTEGER,
    "fallback_models" JSONB,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "llm_audit_events" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "occurred_at" DATETIME NOT NULL,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT,
    "api_key_id" TEXT,
    "tenant_id" TEXT,
    "action" TEXT NOT NULL,
    "target_type" TEXT NOT NULL,
    "target_id" TEXT,
    "before" JSONB,
    "after" JSONB,
    "request_id" TEXT,
    "idempotency_key" TEXT,
    "metadata" JSONB
);

-- Added in 0.3.0 (billing).
CREATE TABLE IF NOT EXISTS "llm_invoices" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "time_zone" TEXT NOT NULL,
    "period_from" DATETIME NOT NULL,
    "period_to" DATETIME NOT NULL,
    "revision" INTEGER NOT NULL DEFAULT 1,
    "void_seq" INTEGER NOT NULL DEFAULT 0,
    "currency" TEXT NOT NULL,
    "plan_versions" JSONB NOT NULL,
    "usage_tokens" BIGINT NOT NULL DEFAULT 0,
    "usage_cost_nanos" BIGINT NOT NULL DEFAULT 0,
    "executions" BIGINT NOT NULL DEFAULT 0,
    "subtotal_nanos" BIGINT NOT NULL,
    "adjustments_nanos" BIGINT NOT NULL DEFAULT 0,
    "total_nanos" BIGINT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'draft',
    "issued_at" DATETIME NOT NULL,
    "computed_at" DATETIME NOT NULL,
    "finalized_at" DATETIME,
    "voided_at" DATETIME,
    "void_reason" TEXT,
    "replaced_by" TEXT,
    "replaces" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "llm_invoice_lines" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "invoice_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "plan_key" TEXT,
    "plan_version" INTEGER,
    "period_from" DATETIME,
    "period_to" DATETIME,
    "unit" TEXT NOT NULL,
    "quantity" TEXT NOT NULL,
    "unit_price_nanos" BIGINT NOT NULL,
    "divisor" BIGINT NOT NULL DEFAULT 1,
    "allowance" TEXT,
    "amount_nanos" BIGINT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "llm_sessions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "session_id" TEXT NOT NULL,
    "agent" TEXT,
    "metadata" JSONB,
    "item_count" INTEGER NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "next_sequence" INTEGER NOT NULL DEFAULT 1,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS "llm_session_items" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant_id" TEXT NOT NULL,
    "session_id" TEXT NOT NULL,
    "sequence" INTEGER NOT NULL,
    "role" TEXT,
    "item" JSONB NOT NULL,
    "tokens" INTEGER NOT NULL DEFAULT 0,
    "bytes" INTEGER NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX IF NOT EXISTS "llm_tenants_tenant_id_key" ON "llm_tenants"("tenant_id");
CREATE INDEX IF NOT EXISTS "llm_tenants_tenant_record_type_tenant_record_id_idx" ON "llm_tenants"("tenant_record_type", "tenant_record_id");
-- Earlier versions had ("tenant_id", "started_at") and then the spend index without "status"; the
-- usage index below replaces both (usage queries filter refused rows on it).
DROP INDEX IF EXISTS "llm_executions_tenant_id_started_at_idx";
CREATE INDEX IF NOT EXISTS "llm_executions_tenant_usage_idx" ON "llm_executions"("tenant_id", "started_at", "total_cost_nanos", "total_tokens", "status");
DROP INDEX IF EXISTS "llm_executions_tenant_spend_idx";
CREATE INDEX IF NOT EXISTS "llm_executions_started_at_idx" ON "llm_executions"("started_at");
CREATE INDEX IF NOT EXISTS "llm_executions_trace_id_idx" ON "llm_executions"("trace_id");
-- The bucket index first had only ("period", "bucket", "scope"); PostgreSQL's generic plans then used it for by-key lookups.
DROP INDEX IF EXISTS "llm_budget_counters_period_bucket_scope_idx";
CREATE INDEX IF NOT EXISTS "llm_budget_counters_bucket_rows_idx" ON "llm_budget_counters"("period", "bucket", "scope", "tenant_id", "agent_type");
CREATE INDEX IF NOT EXISTS "llm_usage_days_day_start_ms_idx" ON "llm_usage_days"("day_start_ms");
CREATE INDEX IF NOT EXISTS "llm_budget_holds_state_expires_at_idx" ON "llm_budget_holds"("state", "expires_at");
CREATE INDEX IF NOT EXISTS "llm_budget_holds_tenant_id_idx" ON "llm_budget_holds"("tenant_id");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_plans_key_version_key" ON "llm_plans"("key", "version");
CREATE INDEX IF NOT EXISTS "llm_tenant_plans_tenant_id_effective_from_idx" ON "llm_tenant_plans"("tenant_id", "effective_from");
CREATE INDEX IF NOT EXISTS "llm_tenant_plans_plan_key_plan_version_idx" ON "llm_tenant_plans"("plan_key", "plan_version");
-- No index on "tat_ns": every admission rewrites it, and an index would be rewritten with it (on
-- PostgreSQL it also rules out HOT updates); pruning, the only reader by TAT, scans the bounded table.
DROP INDEX IF EXISTS "llm_rate_limits_tat_ns_idx";
CREATE INDEX IF NOT EXISTS "llm_executions_api_key_id_started_at_idx" ON "llm_executions"("api_key_id", "started_at");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_api_keys_hash_key" ON "llm_api_keys"("hash");
CREATE INDEX IF NOT EXISTS "llm_api_keys_tenant_id_idx" ON "llm_api_keys"("tenant_id");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_agent_configs_tenant_id_agent_name_key" ON "llm_agent_configs"("tenant_id", "agent_name");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_agent_templates_product_type_agent_name_key" ON "llm_agent_templates"("product_type", "agent_name");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_audit_events_idempotency_key_key" ON "llm_audit_events"("idempotency_key");
CREATE INDEX IF NOT EXISTS "llm_audit_events_tenant_id_occurred_at_idx" ON "llm_audit_events"("tenant_id", "occurred_at");
CREATE INDEX IF NOT EXISTS "llm_audit_events_action_occurred_at_idx" ON "llm_audit_events"("action", "occurred_at");
CREATE INDEX IF NOT EXISTS "llm_audit_events_actor_type_actor_id_occurred_at_idx" ON "llm_audit_events"("actor_type", "actor_id", "occurred_at");
CREATE INDEX IF NOT EXISTS "llm_audit_events_occurred_at_idx" ON "llm_audit_events"("occurred_at");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_invoices_tenant_id_period_void_seq_key" ON "llm_invoices"("tenant_id", "period", "void_seq");
CREATE INDEX IF NOT EXISTS "llm_invoices_period_tenant_id_idx" ON "llm_invoices"("period", "tenant_id");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_invoice_lines_invoice_id_position_key" ON "llm_invoice_lines"("invoice_id", "position");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_sessions_tenant_id_session_id_key" ON "llm_sessions"("tenant_id", "session_id");
CREATE INDEX IF NOT EXISTS "llm_sessions_tenant_id_updated_at_idx" ON "llm_sessions"("tenant_id", "updated_at");
CREATE UNIQUE INDEX IF NOT EXISTS "llm_session_items_tenant_id_session_id_sequence_key" ON "llm_session_items"("tenant_id", "session_id", "sequence");
CREATE INDEX IF NOT EXISTS "llm_session_items_created_at_idx" ON "llm_session_items"("created_at");
