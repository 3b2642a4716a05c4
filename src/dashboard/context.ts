/**
 * Who is asking, and what the pages run on.
 *
 * The session: the app's `auth(request)` is the only way in (there is no default-open mode): it
 * answers `{ role: 'operator', actor }`, `{ role: 'tenant', tenantId, actor }` or null (→ 401, or
 * a redirect to `loginUrl`). What it answers is validated on every request — a malformed answer is
 * a 500 reported to `onError`, never a session. CSRF: the token is an HMAC-SHA-256, under the
 * required `secret`, of the session's role, tenant and actor — per session, no storage, worthless
 * to another actor. Every form carries it in a hidden `_csrf` field; every POST must bring it
 * (compared in constant time), and when the browser says where the request came from (`Origin`,
 * `Sec-Fetch-Site`) that must be this site: the Origin's host must be the request's `Host` (the
 * scheme is not compared — behind a TLS-terminating proxy the request is http while the browser
 * says https) or one of `allowedOrigins`.
 *
 * The services: the dashboard's options and what its pages run on — the library's own stores, never raw writes:
 * the budgets (status with each value's source, rate windows), the ledger and its day rollup, the
 * audit log, plans, API keys and tenant rows. With `runtime` the dashboard shares its budgets and
 * config (so what it shows is what admission decides on); with `apiKeys` a revocation here clears
 * that store's caches at once. Everything is validated when the dashboard is created.
 */
import type { LlmRuntime } from '../agents/runtime.js'
import { createAuditLog, type LlmAuditLog } from '../audit/log.js'
import { LlmBudgets } from '../budget/budgets.js'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'
import { normalizeBasePath } from '../http/context.js'
import { createApiKeys, LlmApiKeys, type ApiKeysOptions } from '../keys/api-keys.js'
import { createLedger, type LlmLedger } from '../ledger/ledger.js'
import { createPlans, type LlmPlans } from '../plans/plans.js'
import { TenantStore } from '../tenant/store.js'
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { AuditActor } from '../audit/actor.js'

export interface LlmDashboardOptions {
  /**
   * Who the request is (required; there is no open mode): `{ role: 'operator', actor }` sees every
   * tenant and may change them; `{ role: 'tenant', tenantId, actor }` sees its own tenant's pages
   * only; null = not signed in (401, or a redirect to `loginUrl`). `actor` is the audit actor of
   * the operator's changes, e.g. `{ type: 'user', id: 'u_42' }`.
   */
  auth: DashboardAuth
  /** At least 32 characters: signs the per-session CSRF tokens of the admin forms. */
  secret: string
  /** Where the dashboard is mounted, e.g. '/admin/llm' (default ''). */
  basePath?: string
  /** The agent runtime: the dashboard uses its budgets and config. */
  runtime?: LlmRuntime
  /** Config (time zone, clock, global budgets) when there is no runtime. */
  config?: LlmConfig | LlmConfigInput
  /** The API key store whose caches a revocation clears (`createApiKeys(prisma, …)`), or its options. */
  apiKeys?: LlmApiKeys | ApiKeysOptions
  /** Where a request without a session is sent (303) instead of a 401 page, e.g. '/login'. */
  loginUrl?: string
  /** The name in the header and titles (default 'LLM usage'). */
  title?: string
  /** Told of every unexpected error (answered 500 without details); default: console.error. */
  onError?: (err: unknown, info: { requestId: string; method: string; path: string }) => void
  /**
   * Origins besides the request's own host whose admin POSTs are accepted, e.g.
   * `['https://admin.example.com']` when a proxy rewrites the Host header (default none).
   */
  allowedOrigins?: readonly string[]
}

export interface DashboardServices {
  client: LlmPrismaClient
  provider: SqlProvider
  config: LlmConfig
  budgets: LlmBudgets
  ledger: LlmLedger
  audit: LlmAuditLog
  plans: LlmPlans
  keys: LlmApiKeys
  tenants: TenantStore
}

export interface DashboardSettings {
  auth: DashboardAuth
  secret: string
  basePath: string
  loginUrl: string | null
  title: string
  onError: NonNullable<LlmDashboardOptions['onError']>
  allowedOrigins: readonly string[]
}

const OPTION_KEYS = ['auth', 'secret', 'basePath', 'runtime', 'config', 'apiKeys', 'loginUrl', 'title', 'onError', 'allowedOrigins'] as const

function assertOrigins(value: unknown): string[] {
  if (value === undefined) return []
  const allowed = "an array of origins such as ['https://admin.example.com'] (scheme, host and port; no path)"
  if (!Array.isArray(value)) throw new InvalidArgumentError('options.allowedOrigins', allowed, value)
  return value.map((o) => {
    let url: URL | null = null
    try {
      url = typeof o === 'string' ? new URL(o) : null
    } catch {
      url = null
    }
    if (url === null || !/^https?:$/.test(url.protocol) || url.origin !== o) throw new InvalidArgumentError('options.allowedOrigins', allowed, o)
    return o as string
  })
}

export function createDashboardServices(prisma: unknown, options: LlmDashboardOptions): { services: DashboardServices; settings: DashboardSettings } {
  assertQuery(options, OPTION_KEYS, 'options')
  const client = assertClient(prisma)
  if (typeof options.auth !== 'function') {
    throw new InvalidArgumentError(
      'options.auth',
      "a function (request) => { role: 'operator', actor } | { role: 'tenant', tenantId, actor } | null",
      options.auth,
    )
  }
  const secret = assertSecret(options.secret)
  const runtime = options.runtime
  if (runtime !== undefined && (typeof runtime !== 'object' || runtime === null || !(runtime.budgets instanceof LlmBudgets))) {
    throw new InvalidArgumentError('options.runtime', 'an LlmRuntime (createLlmRuntime(prisma, …))', runtime)
  }
  const config = runtime ? runtime.config : toConfig(options.config)
  const keys = options.apiKeys instanceof LlmApiKeys ? options.apiKeys : createApiKeys(prisma, { config, ...(options.apiKeys ?? {}) })
  const loginUrl = options.loginUrl ?? null
  if (loginUrl !== null && (typeof loginUrl !== 'string' || !/^(\/|https?:\/\/)[^\s"'<>]*$/.test(loginUrl))) {
    throw new InvalidArgumentError('options.loginUrl', "a path such as '/login' or an http(s) URL", loginUrl)
  }
  const title = options.title ?? 'LLM usage'
  if (typeof title !== 'string' || title.length === 0 || title.length > 80)
    throw new InvalidArgumentError('options.title', 'a string of 1–80 characters', title)
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new InvalidArgumentError('options.onError', 'a function', options.onError)
  const allowedOrigins = assertOrigins(options.allowedOrigins)
  const services: DashboardServices = {
    client,
    provider: detectProvider(prisma),
    config,
    budgets: runtime ? runtime.budgets : new LlmBudgets(prisma, config),
    ledger: createLedger(prisma, config),
    audit: createAuditLog(prisma, config),
    plans: createPlans(prisma, config),
    keys,
    tenants: new TenantStore(prisma, { now: config.now }),
  }
  const report = (err: unknown, info: { requestId: string }) => console.error(`[prisma-llm-tenant/dashboard] ${info.requestId}`, err)
  return {
    services,
    settings: {
      auth: options.auth,
      secret,
      basePath: normalizeBasePath(options.basePath),
      loginUrl,
      title,
      onError: options.onError ?? report,
      allowedOrigins,
    },
  }
}

export type DashboardSession = { role: 'operator'; actor: AuditActor } | { role: 'tenant'; tenantId: string; actor: AuditActor }

export type DashboardAuth = (request: Request) => DashboardSession | null | undefined | Promise<DashboardSession | null | undefined>

const ACTOR_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/

/** The callback's answer as a session, or a typed error saying what is wrong with it. */
export function toSession(value: unknown): DashboardSession | null {
  if (value === null || value === undefined) return null
  const v = value as { role?: unknown; tenantId?: unknown; actor?: unknown }
  if (typeof v !== 'object') throw new InvalidArgumentError('auth()', "{ role: 'operator', actor } | { role: 'tenant', tenantId, actor } | null", value)
  const a = v.actor as { type?: unknown; id?: unknown } | undefined
  if (!a || typeof a !== 'object' || typeof a.type !== 'string' || !ACTOR_TYPE.test(a.type)) {
    throw new InvalidArgumentError('auth().actor', "{ type: 'user', id: '…' } (type: 1–64 letters, digits or _ . : -)", a)
  }
  if (a.id !== undefined && a.id !== null && (typeof a.id !== 'string' || a.id.length === 0 || a.id.length > 191)) {
    throw new InvalidArgumentError('auth().actor.id', 'a non-empty string of at most 191 characters, or null', a.id)
  }
  const actor: AuditActor = { type: a.type, id: (a.id as string | null | undefined) ?? null }
  if (v.role === 'operator') return { role: 'operator', actor }
  if (v.role === 'tenant') {
    if (typeof v.tenantId !== 'string' || v.tenantId.length === 0 || v.tenantId.length > 1024) {
      throw new InvalidArgumentError('auth().tenantId', 'the tenant id the session may see', v.tenantId)
    }
    return { role: 'tenant', tenantId: v.tenantId, actor }
  }
  throw new InvalidArgumentError('auth().role', "'operator' or 'tenant'", v.role)
}

function assertSecret(secret: unknown): string {
  if (typeof secret !== 'string' || secret.length < 32) {
    throw new InvalidArgumentError('options.secret', 'a string of at least 32 characters (signs the CSRF tokens; keep it out of the code)', '[a secret]')
  }
  return secret
}

/** The session's CSRF token. */
export function csrfToken(secret: string, session: DashboardSession): string {
  const tenant = session.role === 'tenant' ? session.tenantId : ''
  return createHmac('sha256', secret)
    .update(`llm-dashboard-csrf|${session.role}|${tenant}|${session.actor.type}|${session.actor.id ?? ''}`)
    .digest('base64url')
}

/**
 * Why a POST is refused for where it came from (before its body is read), or null. The Origin's
 * host (with port) must be the request's Host — not its scheme: behind a TLS-terminating proxy the
 * request is http while the browser sends `Origin: https://…` — or the Origin one of `allowed`.
 * An opaque origin (`null`) or a malformed one is refused. The CSRF token stays the main defence.
 */
export function refuseCrossSite(request: Request, url: URL, allowed: readonly string[] = []): string | null {
  const origin = request.headers.get('origin')
  if (origin !== null && !allowed.includes(origin) && hostOf(origin) !== (request.headers.get('host') ?? url.host).toLowerCase()) {
    return 'The request came from another origin'
  }
  const site = request.headers.get('sec-fetch-site')
  if (site !== null && site !== 'same-origin' && site !== 'none') return 'The request came from another site'
  return null
}

function hostOf(origin: string): string | null {
  try {
    const url = new URL(origin)
    return /^https?:$/.test(url.protocol) ? url.host.toLowerCase() : null
  } catch {
    return null
  }
}

/** Why a POST's CSRF token is refused (compared in constant time, as bytes of equal length), or null. */
export function refuseToken(expected: string, given: unknown): string | null {
  const refused = 'The form has no valid CSRF token (reload the page and try again)'
  if (typeof given !== 'string') return refused
  const a = Buffer.from(given, 'utf8')
  const b = Buffer.from(expected, 'utf8')
  if (a.length !== b.length) return refused
  return timingSafeEqual(a, b) ? null : refused
}
