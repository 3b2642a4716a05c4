/**
 * The operators' admin actions: the forms on a tenant's page (limits and enforcement, plan,
 * activate / deactivate, a key's revoke button — plain POST forms with the session's CSRF token in
 * a hidden field; the served script only asks for a confirmation before the destructive ones), and
 * what a posted form does. The handler has already checked the CSRF token and the origin; here the
 * fields are validated (a bad value is a 400 naming the field, before anything is written) and the
 * change is made through the library's own admin function — TenantStore.update,
 * LlmPlans.changePlan, LlmApiKeys.revokeApiKey — with the operator as the audit actor, so the change
 * and its audit event are one transaction. Then 303 back to the tenant's page.
 */
import type { ApiKeyRecord } from '../keys/key-record.js'
import { html, type PageContext, type SafeHtml } from './html.js'
import type { TenantDetail } from './tenant-data.js'
import type { AuditActor } from '../audit/actor.js'
import { LIMIT_TYPES, type Enforcement, type LimitsInput } from '../config/limits.js'
import type { DashboardServices } from './context.js'
import { badInput, notFound } from './input.js'

const ENFORCEMENT_CHOICES = ['inherit', 'none', 'soft', 'hard'] as const

const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`

const tenantPath = (ctx: PageContext, tenantId: string) => `${ctx.base}/tenants/${encodeURIComponent(tenantId)}`

export function revokeForm(ctx: PageContext, tenantId: string, key: ApiKeyRecord): SafeHtml {
  return html`<form class="inline" method="post" action="${tenantPath(ctx, tenantId)}/keys/${encodeURIComponent(key.id)}/revoke" data-confirm="Revoke the key ${key.name}? Calls with it are refused at once.">${csrfField(ctx)}<button type="submit" class="danger">Revoke</button></form>`
}

function limitValue(d: TenantDetail, type: (typeof LIMIT_TYPES)[number]): string {
  const v = d.tenant.limits[type]
  return v === null ? '' : typeof v === 'number' ? String(v) : v.toFixed()
}

export function adminForms(ctx: PageContext, d: TenantDetail): SafeHtml {
  const t = d.tenant
  const self = tenantPath(ctx, t.tenantId)
  const enforcement = t.enforcement ?? 'inherit'
  return html`<section class="panel wide" id="admin"><h2>Admin</h2>
<p class="muted">Each change is written through the library's admin functions with you as the actor, and recorded in the audit trail. Empty = not set on the tenant (inherited from the plan or the global budgets).</p>
<form class="admin" method="post" action="${self}/limits" id="limits-form">${csrfField(ctx)}
${LIMIT_TYPES.map((type) => html`<label>${type}${type.endsWith('Cost') ? ' ($)' : ''}<input type="text" name="${type}" value="${limitValue(d, type)}" inputmode="decimal" autocomplete="off"></label>`)}
<label>enforcement<select name="enforcement">${ENFORCEMENT_CHOICES.map((e) => html`<option value="${e}"${e === enforcement ? html` selected` : ''}>${e}</option>`)}</select></label>
<button type="submit">Save limits</button>
</form>
<hr>
<form class="admin" method="post" action="${self}/plan" id="plan-form">${csrfField(ctx)}
<label>plan<select name="plan">${d.plans.length === 0 ? html`<option value="">no plans defined</option>` : d.plans.map((p) => html`<option value="${p.key}"${d.current?.plan.key === p.key ? html` selected` : ''}>${p.name} (${p.key} v${p.version})</option>`)}</select></label>
<label>when<select name="at"><option value="now">now</option><option value="period_end">at the end of the month</option></select></label>
<button type="submit">Change plan</button>
</form>
<hr>
<form class="admin inline" method="post" action="${self}/active" id="active-form" data-confirm="${t.active ? 'Deactivate this tenant? Its calls are refused until it is activated again.' : 'Activate this tenant?'}">${csrfField(ctx)}
<input type="hidden" name="active" value="${t.active ? 'false' : 'true'}">
<button type="submit" class="${t.active ? 'danger' : ''}">${t.active ? 'Deactivate tenant' : 'Activate tenant'}</button>
</form>
</section>`
}

export type AdminAction = 'limits' | 'plan' | 'active' | 'revoke'

const COST = /^\d{1,12}(\.\d{1,9})?$/
const COUNT = /^\d{1,15}$/

function assertFields(form: URLSearchParams, allowed: readonly string[]): void {
  for (const key of new Set(form.keys())) {
    if (key === '_csrf') continue
    if (!allowed.includes(key)) throw badInput('form field', allowed.join(', ') || 'none', key)
    if (form.getAll(key).length > 1) throw badInput(key, 'one value', form.getAll(key).join(','))
  }
}

function limitsOf(form: URLSearchParams): LimitsInput {
  const limits: Record<string, string | number | null> = {}
  for (const type of LIMIT_TYPES) {
    const raw = form.get(type)
    if (raw === null) continue
    const v = raw.trim()
    if (v === '') limits[type] = null
    else if (type.endsWith('Cost')) {
      if (!COST.test(v)) throw badInput(type, 'empty (not set) or dollars such as 25 or 0.50 (at most 9 decimals)', raw)
      limits[type] = v
    } else {
      if (!COUNT.test(v)) throw badInput(type, 'empty (not set) or a whole number such as 100000', raw)
      limits[type] = Number(v)
    }
  }
  return limits as LimitsInput
}

/** Runs one action; returns the notice the tenant page shows after the redirect. */
export async function runAdminAction(
  s: DashboardServices,
  action: AdminAction,
  params: { tenantId: string; keyId?: string },
  form: URLSearchParams,
  actor: AuditActor,
): Promise<string> {
  const audit = { actor }
  const tenant = await s.tenants.find(params.tenantId)
  if (!tenant) throw notFound()
  switch (action) {
    case 'limits': {
      assertFields(form, [...LIMIT_TYPES, 'enforcement'])
      const limits = limitsOf(form)
      const choice = form.get('enforcement')
      if (choice === null || !(ENFORCEMENT_CHOICES as readonly string[]).includes(choice))
        throw badInput('enforcement', ENFORCEMENT_CHOICES.join(', '), choice ?? '')
      const enforcement: Enforcement | null = choice === 'inherit' ? null : (choice as Enforcement)
      await s.tenants.update(tenant.tenantId, { limits, enforcement }, audit)
      return 'limits'
    }
    case 'plan': {
      assertFields(form, ['plan', 'at'])
      const plans = await s.plans.listPlans()
      const key = form.get('plan') ?? ''
      if (!plans.some((p) => p.key === key)) throw badInput('plan', plans.map((p) => p.key).join(', ') || 'none (no plans are defined)', key)
      const at = form.get('at') ?? 'now'
      if (at !== 'now' && at !== 'period_end') throw badInput('at', 'now, period_end', at)
      await s.plans.changePlan(tenant.tenantId, key, { at }, audit)
      return 'plan'
    }
    case 'active': {
      assertFields(form, ['active'])
      const v = form.get('active')
      if (v !== 'true' && v !== 'false') throw badInput('active', 'true, false', v ?? '')
      await s.tenants.update(tenant.tenantId, { active: v === 'true' }, audit)
      return v === 'true' ? 'activated' : 'deactivated'
    }
    case 'revoke': {
      assertFields(form, [])
      const keyId = params.keyId ?? ''
      const key = await s.keys.getApiKey(keyId).catch(() => null)
      // Another tenant's key under this tenant's URL is no key of this tenant.
      if (!key || key.tenantId !== tenant.tenantId) throw notFound()
      await s.keys.revokeApiKey(key.id, audit)
      return 'revoked'
    }
  }
}
