-- prisma-llm-tenant row-level security for PostgreSQL (docs/row-level-security.md). Apply it after
-- postgresql.sql, as the owner of the tables (applyRowLevelSecurity(prisma) runs it in one
-- transaction); idempotent: safe to run again, e.g. after an upgrade adds a table.
--
-- Every tenant-owned table gets ENABLE + FORCE ROW LEVEL SECURITY (FORCE: the owner obeys too) and
-- the policy "llm_tenant_isolation": a row is visible, and may be written, only while the
-- transaction-local setting app.tenant_id names its tenant (withTenantDb sets it); unset or '', no
-- row at all. llm_plans and llm_agent_templates are the app's catalog, not tenant data: no policy.
--
-- The bypass for the library's own cross-tenant work (admission's global counters and batched
-- statements, key verification by hash, hold expiry, top spenders, invoicing every tenant) is a
-- role, never a setting: the policy "llm_service_access" lets members of the NOLOGIN role
-- llm_tenant_service through. A setting can be changed by any SQL the app runs; joining a role
-- takes a GRANT by an administrator and a login of its own. rlsStatements({ serviceRole }) and
-- applyRowLevelSecurity(prisma, { serviceRole }) use another name for it.

-- The service role (created unless it exists: needs CREATEROLE, or create it yourself first).
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llm_tenant_service') THEN CREATE ROLE "llm_tenant_service" NOLOGIN; END IF; END $$;
DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), 'llm_tenant_service'); END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON "llm_tenants", "llm_executions", "llm_budget_counters", "llm_budget_holds", "llm_plans", "llm_tenant_plans", "llm_rate_limits", "llm_api_keys", "llm_agent_configs", "llm_agent_templates", "llm_audit_events", "llm_invoices", "llm_invoice_lines", "llm_sessions", "llm_session_items", "llm_usage_days" TO "llm_tenant_service";

-- llm_tenants
ALTER TABLE "llm_tenants" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_tenants" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_tenants";
CREATE POLICY "llm_tenant_isolation" ON "llm_tenants" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_tenants";
CREATE POLICY "llm_service_access" ON "llm_tenants" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_executions: the rows of the tenant in app.tenant_id (a NULL tenant_id — a call without tenant — is no tenant's).
ALTER TABLE "llm_executions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_executions" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_executions";
CREATE POLICY "llm_tenant_isolation" ON "llm_executions" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_executions";
CREATE POLICY "llm_service_access" ON "llm_executions" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_budget_holds: the rows of the tenant in app.tenant_id (a NULL tenant_id — a call without tenant — is no tenant's).
ALTER TABLE "llm_budget_holds" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_budget_holds" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_budget_holds";
CREATE POLICY "llm_tenant_isolation" ON "llm_budget_holds" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_budget_holds";
CREATE POLICY "llm_service_access" ON "llm_budget_holds" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_tenant_plans
ALTER TABLE "llm_tenant_plans" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_tenant_plans" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_tenant_plans";
CREATE POLICY "llm_tenant_isolation" ON "llm_tenant_plans" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_tenant_plans";
CREATE POLICY "llm_service_access" ON "llm_tenant_plans" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_api_keys
ALTER TABLE "llm_api_keys" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_api_keys" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_api_keys";
CREATE POLICY "llm_tenant_isolation" ON "llm_api_keys" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_api_keys";
CREATE POLICY "llm_service_access" ON "llm_api_keys" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_agent_configs
ALTER TABLE "llm_agent_configs" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_agent_configs" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_agent_configs";
CREATE POLICY "llm_tenant_isolation" ON "llm_agent_configs" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_agent_configs";
CREATE POLICY "llm_service_access" ON "llm_agent_configs" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_audit_events: the rows of the tenant in app.tenant_id (a NULL tenant_id — a call without tenant — is no tenant's).
ALTER TABLE "llm_audit_events" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_audit_events" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_audit_events";
CREATE POLICY "llm_tenant_isolation" ON "llm_audit_events" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_audit_events";
CREATE POLICY "llm_service_access" ON "llm_audit_events" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_invoices
ALTER TABLE "llm_invoices" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_invoices" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_invoices";
CREATE POLICY "llm_tenant_isolation" ON "llm_invoices" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_invoices";
CREATE POLICY "llm_service_access" ON "llm_invoices" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_sessions
ALTER TABLE "llm_sessions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_sessions" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_sessions";
CREATE POLICY "llm_tenant_isolation" ON "llm_sessions" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_sessions";
CREATE POLICY "llm_service_access" ON "llm_sessions" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_session_items
ALTER TABLE "llm_session_items" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_session_items" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_session_items";
CREATE POLICY "llm_tenant_isolation" ON "llm_session_items" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_session_items";
CREATE POLICY "llm_service_access" ON "llm_session_items" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- Counters and rate windows: tenant_id is '' on global rows (every tenant's sum: no tenant's to see)
-- and the key's id on api_key rows (the tenant's own keys only, looked up in llm_api_keys — never by
-- comparing a key id with a tenant id, which an app-chosen tenant id could equal).
ALTER TABLE "llm_budget_counters" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_budget_counters" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_budget_counters";
CREATE POLICY "llm_tenant_isolation" ON "llm_budget_counters" USING (("scope" IN ('tenant', 'tenant_agent') AND "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) OR ("scope" = 'api_key' AND "tenant_id" IN (SELECT "id" FROM "llm_api_keys" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')))) WITH CHECK (("scope" IN ('tenant', 'tenant_agent') AND "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) OR ("scope" = 'api_key' AND "tenant_id" IN (SELECT "id" FROM "llm_api_keys" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''))));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_budget_counters";
CREATE POLICY "llm_service_access" ON "llm_budget_counters" TO "llm_tenant_service" USING (true) WITH CHECK (true);

ALTER TABLE "llm_rate_limits" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_rate_limits" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_rate_limits";
CREATE POLICY "llm_tenant_isolation" ON "llm_rate_limits" USING (("scope" IN ('tenant', 'tenant_agent') AND "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) OR ("scope" = 'api_key' AND "tenant_id" IN (SELECT "id" FROM "llm_api_keys" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')))) WITH CHECK (("scope" IN ('tenant', 'tenant_agent') AND "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')) OR ("scope" = 'api_key' AND "tenant_id" IN (SELECT "id" FROM "llm_api_keys" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''))));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_rate_limits";
CREATE POLICY "llm_service_access" ON "llm_rate_limits" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- Invoice lines have no tenant column: they are the tenant's through their invoice.
ALTER TABLE "llm_invoice_lines" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_invoice_lines" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_tenant_isolation" ON "llm_invoice_lines";
CREATE POLICY "llm_tenant_isolation" ON "llm_invoice_lines" USING ("invoice_id" IN (SELECT "id" FROM "llm_invoices" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), ''))) WITH CHECK ("invoice_id" IN (SELECT "id" FROM "llm_invoices" WHERE "tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')));
DROP POLICY IF EXISTS "llm_service_access" ON "llm_invoice_lines";
CREATE POLICY "llm_service_access" ON "llm_invoice_lines" TO "llm_tenant_service" USING (true) WITH CHECK (true);

-- llm_usage_days: the day rollup sums the executions of every tenant, so no row is any tenant's:
-- row-level security is forced with no tenant policy (a tenant's session sees and changes nothing
-- of it) and only the service role (the dashboard's connection, like top spenders') reads and
-- writes it. Written as one ALTER: it is not a tenant-owned table (rlsTables lists those).
ALTER TABLE "llm_usage_days" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "llm_service_access" ON "llm_usage_days";
CREATE POLICY "llm_service_access" ON "llm_usage_days" TO "llm_tenant_service" USING (true) WITH CHECK (true);
