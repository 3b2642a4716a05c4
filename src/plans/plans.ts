/**
 * Plans: tiers (free, dev, pro, …) defined once and assigned to tenants. A plan version is
 * immutable once a tenant has been on it — editing creates the next version; tenants stay on
 * their version until moved (`movePlanVersion`), and new assignments take the latest. Assignments
 * are a history (`effectiveFrom` / `effectiveTo`): a change `at: 'now'` ends the current one now;
 * `at: 'period_end'` schedules the new one at the start of next month in the config's zone.
 * Every write that changes what a tenant's calls see invalidates this process's cache of that
 * tenant at once; other processes see it within `tenantCacheTtlMs`. Budget counters belong to
 * the tenant, not the plan: a change carries the period's usage over.
 */
import { randomUUID } from 'node:crypto'
import { toConfig, type LlmConfig, type LlmConfigInput } from '../config/config.js'
import { assertClient, detectProvider, type LlmPrismaClient, type SqlProvider } from '../db/client.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { bucketStart } from '../foundation/periods.js'
import { assertIdentifier, assertQuery } from '../foundation/validation.js'
import { ensureTenantRow } from '../tenant/loader.js'
import { bumpTenantVersion } from '../tenant/versions.js'
import { PlanExistsError, PlanInUseError, PlanNotFoundError } from './errors.js'
import { assertBillablePrices, assertPlanKey, assertPlanVersion, planToColumns, type PlanChanges, type PlanInput } from './plan-input.js'
import { toAssignment, toPlanRecord, type PlanAssignment, type PlanRecord } from './plan-record.js'
import { assertAuditOptions, type AuditOptions } from '../audit/actor.js'
import { changedFields, recordAuditEvent } from '../audit/record.js'

type Tx = LlmPrismaClient

/** A plan's audited fields (its row id and creation time are not changes). */
const audited = ({ id: _id, createdAt: _c, ...rest }: PlanRecord): Record<string, unknown> => rest as Record<string, unknown>

export const PLAN_CHANGE_AT = ['now', 'period_end'] as const
export type PlanChangeAt = (typeof PLAN_CHANGE_AT)[number]

/** Assignments not ended by `at` (current, or scheduled to start later). */
const notEndedBy = (at: Date) => ({ OR: [{ effectiveTo: null }, { effectiveTo: { gt: at } }] })

/** A plan version's row (Prisma field names). */
export type PlanRow = Record<string, unknown> & { id: string; key: string; version: number }

/** A plan version's row — the latest, or `version` — read with `db` (a caller's transaction too); PlanNotFoundError if none. */
export async function findPlanRow(db: Tx, key: string, version?: number): Promise<PlanRow> {
  const row =
    version === undefined
      ? await db.llmPlan.findFirst({ where: { key }, orderBy: { version: 'desc' } })
      : await db.llmPlan.findFirst({ where: { key, version: assertPlanVersion(version) } })
  if (!row) throw new PlanNotFoundError(key, version ?? null)
  return row as PlanRow
}

/**
 * The write of a plan change, inside the caller's transaction `tx` (changePlan's own, or
 * provisioning's one transaction — Prisma has no nested transactions): ends the assignment in
 * force at `from`, drops a pending scheduled one, starts the new one at `from`, and records
 * 'plan.changed' unless `audit` is false (the caller's own event records the plan). The caller
 * serialises concurrent changes of the tenant and bumps its version after commit.
 */
export async function assignPlan(
  tx: Tx,
  tenantId: string,
  plan: PlanRow,
  when: { from: Date; now: Date; at?: PlanChangeAt },
  audit?: AuditOptions | false,
): Promise<PlanAssignment> {
  const { from, now } = when
  const previous = (await tx.llmTenantPlan.findFirst({
    where: { tenantId, effectiveFrom: { lte: now }, ...notEndedBy(now) },
    orderBy: { effectiveFrom: 'desc' },
  })) as { planKey: string; planVersion: number } | null
  await tx.llmTenantPlan.deleteMany({ where: { tenantId, effectiveFrom: { gt: now } } }) // a pending scheduled change
  await tx.llmTenantPlan.updateMany({ where: { tenantId, effectiveFrom: { lte: from }, ...notEndedBy(from) }, data: { effectiveTo: from } })
  const created = await tx.llmTenantPlan.create({
    data: { id: randomUUID(), tenantId, planId: plan.id, planKey: plan.key, planVersion: plan.version, effectiveFrom: from, effectiveTo: null },
  })
  if (audit !== false) {
    await recordAuditEvent(
      tx,
      {
        action: 'plan.changed',
        tenantId,
        targetType: 'tenant',
        targetId: tenantId,
        before: previous ? { planKey: previous.planKey, planVersion: previous.planVersion } : { planKey: null, planVersion: null },
        after: { planKey: plan.key, planVersion: plan.version, effectiveFrom: from },
        metadata: { at: when.at ?? 'now' },
      },
      now,
      audit,
    )
  }
  return toAssignment(created as Record<string, unknown>)
}

export class LlmPlans {
  readonly config: LlmConfig
  private readonly client: LlmPrismaClient
  private readonly provider: SqlProvider

  constructor(client: unknown, config?: LlmConfig | LlmConfigInput) {
    this.client = assertClient(client)
    this.provider = detectProvider(client)
    this.config = toConfig(config)
  }

  /** Creates version 1 of a new plan (audited: `plan.defined`). */
  async definePlan(input: PlanInput, audit?: AuditOptions): Promise<PlanRecord> {
    const data = planToColumns(input)
    assertBillablePrices(data)
    assertAuditOptions(audit)
    if (await this.latestRow(data.key as string)) throw new PlanExistsError(data.key as string)
    return (await this.client.$transaction(async (tx: Tx) => {
      const plan = toPlanRecord((await tx.llmPlan.create({ data: { id: randomUUID(), version: 1, ...data } })) as Record<string, unknown>)
      await recordAuditEvent(tx, { action: 'plan.defined', targetType: 'plan', targetId: plan.key, after: audited(plan) }, this.config.now(), audit)
      return plan
    })) as PlanRecord
  }

  /**
   * Changes a plan: the latest version is edited in place while no tenant has ever been on it;
   * otherwise (immutable) the changes become the next version. Tenants stay on their version.
   */
  async updatePlan(key: string, changes: PlanChanges, audit?: AuditOptions): Promise<PlanRecord> {
    assertPlanKey(key)
    const data = planToColumns(changes, 'changes', { requireKeyAndName: false })
    if ('key' in data) throw new InvalidArgumentError('changes.key', 'omitted (a plan key cannot change)', data.key)
    assertAuditOptions(audit)
    return (await this.client.$transaction(async (tx: Tx) => {
      const latest = await this.latestRow(key, tx)
      if (!latest) throw new PlanNotFoundError(key)
      assertBillablePrices({ ...latest, ...data }, 'changes')
      const used = (await tx.llmTenantPlan.count({ where: { planId: latest.id } })) as number
      let plan: PlanRecord
      if (used === 0) plan = toPlanRecord((await tx.llmPlan.update({ where: { id: latest.id }, data })) as Record<string, unknown>)
      else {
        const { id: _id, createdAt: _createdAt, version, ...copy } = latest
        plan = toPlanRecord(
          (await tx.llmPlan.create({ data: { ...copy, ...data, id: randomUUID(), version: Number(version) + 1 } })) as Record<string, unknown>,
        )
      }
      const diff = changedFields(audited(toPlanRecord(latest)), audited(plan))
      await recordAuditEvent(
        tx,
        { action: 'plan.updated', targetType: 'plan', targetId: key, ...diff, metadata: { version: plan.version, newVersion: used > 0 } },
        this.config.now(),
        audit,
      )
      return plan
    })) as PlanRecord
  }

  /** A plan version (the latest by default). */
  async getPlan(key: string, options: { version?: number } = {}): Promise<PlanRecord> {
    assertQuery(options, ['version'], 'options')
    return toPlanRecord(await this.planRow(this.client, assertPlanKey(key), options.version))
  }

  /** Every plan's latest version (or every version), by key. */
  async listPlans(options: { allVersions?: boolean } = {}): Promise<PlanRecord[]> {
    assertQuery(options, ['allVersions'], 'options')
    if (options.allVersions !== undefined && typeof options.allVersions !== 'boolean')
      throw new InvalidArgumentError('options.allVersions', 'true or false', options.allVersions)
    const rows = (await this.client.llmPlan.findMany({ orderBy: [{ key: 'asc' }, { version: 'asc' }] })) as Array<Record<string, unknown>>
    const latest = new Map<string, Record<string, unknown>>()
    for (const r of rows) latest.set(r.key as string, r)
    return (options.allVersions ? rows : [...latest.values()]).map(toPlanRecord)
  }

  /** Deletes every version of a plan no tenant is on or scheduled onto (PlanInUseError otherwise). */
  async deletePlan(key: string, audit?: AuditOptions): Promise<number> {
    assertPlanKey(key)
    assertAuditOptions(audit)
    return (await this.client.$transaction(async (tx: Tx) => {
      const versions = (await tx.llmPlan.findMany({ where: { key } })) as Array<{ id: string }>
      if (versions.length === 0) throw new PlanNotFoundError(key)
      const onIt = (await tx.llmTenantPlan.findMany({ where: { planKey: key, ...notEndedBy(this.config.now()) } })) as Array<{ tenantId: string }>
      if (onIt.length > 0) throw new PlanInUseError(key, [...new Set(onIt.map((a) => a.tenantId))])
      // The assignment history keeps the plan's key and version (billing prices it when invoicing).
      const { count } = (await tx.llmPlan.deleteMany({ where: { key } })) as { count: number }
      await recordAuditEvent(tx, { action: 'plan.deleted', targetType: 'plan', targetId: key, before: { key, versions: count } }, this.config.now(), audit)
      return count
    })) as number
  }

  /**
   * Puts a tenant on a plan (its latest version, or `version`): `at: 'now'` (default) ends the
   * current assignment now; `at: 'period_end'` starts the new one at the start of next month in the
   * config's time zone. A pending scheduled change is replaced. The tenant row is created if missing.
   */
  async changePlan(tenantId: string, key: string, options: { at?: PlanChangeAt; version?: number } = {}, audit?: AuditOptions): Promise<PlanAssignment> {
    const id = assertIdentifier(tenantId, 'tenantId')
    assertPlanKey(key)
    assertQuery(options, ['at', 'version'], 'options')
    const at = options.at ?? 'now'
    if (!(PLAN_CHANGE_AT as readonly string[]).includes(at as string))
      throw new InvalidArgumentError('options.at', PLAN_CHANGE_AT.map((a) => `'${a}'`).join(' or '), at)
    if (options.version !== undefined) assertPlanVersion(options.version, 'options.version')
    assertAuditOptions(audit)
    const now = this.config.now()
    const plan = await this.planRow(this.client, key, options.version)
    await ensureTenantRow(this.client, this.provider, { tenantId: id }, now, audit)
    const from =
      at === 'now' ? now : bucketStart('month', new Date(bucketStart('month', now, this.config.timeZone).getTime() + 32 * 86_400_000), this.config.timeZone)
    const assignment = (await this.client.$transaction(async (tx: Tx) => {
      await this.lockTenant(tx, id)
      return assignPlan(tx, id, plan, { from, now, at }, audit)
    })) as PlanAssignment
    bumpTenantVersion(id)
    return assignment
  }

  /**
   * Moves every tenant on version `from` of a plan to version `to`, effective now, and every
   * change scheduled onto `from` to start on `to` instead. Returns how many tenants. Each tenant
   * moved gets a `plan.changed` event (`scheduled: true` for a scheduled one), in the transaction.
   */
  async movePlanVersion(key: string, options: { from: number; to: number }, audit?: AuditOptions): Promise<number> {
    assertPlanKey(key)
    assertQuery(options, ['from', 'to'], 'options')
    assertAuditOptions(audit)
    const from = await this.planRow(this.client, key, assertPlanVersion(options?.from, 'options.from'))
    const to = await this.planRow(this.client, key, assertPlanVersion(options?.to, 'options.to'))
    const now = this.config.now()
    const moved = (await this.client.$transaction(async (tx: Tx) => {
      // The tenants' locks first (in id order: two moves never deadlock), as changePlan takes them:
      // a concurrent change of one of them is then either before the reads below or after the move.
      const candidates = (await tx.llmTenantPlan.findMany({ where: { planId: from.id, ...notEndedBy(now) }, select: { tenantId: true } })) as Array<{
        tenantId: string
      }>
      for (const t of [...new Set(candidates.map((c) => c.tenantId))].sort()) await this.lockTenant(tx, t)
      const rows = (await tx.llmTenantPlan.findMany({ where: { planId: from.id, ...notEndedBy(now) } })) as Array<{
        id: string
        tenantId: string
        effectiveFrom: Date
        effectiveTo: Date | null
      }>
      const current = rows.filter((a) => a.effectiveFrom.getTime() <= now.getTime())
      // Scheduled ones have not started: they simply start on the new version.
      const scheduled = rows.filter((a) => a.effectiveFrom.getTime() > now.getTime())
      for (const a of current) {
        await tx.llmTenantPlan.update({ where: { id: a.id }, data: { effectiveTo: now } })
        // Until the end the current assignment had: a change scheduled away from it still starts then.
        await tx.llmTenantPlan.create({
          data: {
            id: randomUUID(),
            tenantId: a.tenantId,
            planId: to.id,
            planKey: key,
            planVersion: to.version,
            effectiveFrom: now,
            effectiveTo: a.effectiveTo,
          },
        })
      }
      if (scheduled.length > 0)
        await tx.llmTenantPlan.updateMany({ where: { id: { in: scheduled.map((a) => a.id) } }, data: { planId: to.id, planVersion: to.version } })
      // One event per assignment moved: the log by tenant shows every plan its calls were priced by.
      for (const a of [...current, ...scheduled]) {
        const startsLater = a.effectiveFrom.getTime() > now.getTime()
        const effectiveFrom = startsLater ? a.effectiveFrom : now
        await recordAuditEvent(
          tx,
          {
            action: 'plan.changed',
            tenantId: a.tenantId,
            targetType: 'tenant',
            targetId: a.tenantId,
            before: { planKey: key, planVersion: from.version },
            after: { planKey: key, planVersion: to.version, effectiveFrom },
            metadata: startsLater ? { movePlanVersion: true, scheduled: true } : { movePlanVersion: true },
          },
          now,
          audit,
        )
      }
      return [...new Set(rows.map((a) => a.tenantId))]
    })) as string[]
    for (const t of moved) bumpTenantVersion(t)
    return moved.length
  }

  /** The plan a tenant is on at `at` (default now), with its assignment and any scheduled change; null if none. */
  async currentPlan(
    tenantId: string,
    options: { at?: Date } = {},
  ): Promise<{ plan: PlanRecord; assignment: PlanAssignment; scheduled: PlanAssignment | null } | null> {
    const id = assertIdentifier(tenantId, 'tenantId')
    assertQuery(options, ['at'], 'options')
    const at = options.at ?? this.config.now()
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new InvalidArgumentError('options.at', 'a valid Date', options.at)
    const open = (
      (await this.client.llmTenantPlan.findMany({ where: { tenantId: id, ...notEndedBy(at) }, orderBy: [{ effectiveFrom: 'asc' }] })) as Array<
        Record<string, unknown>
      >
    ).map(toAssignment)
    const current = [...open].reverse().find((a) => a.effectiveFrom.getTime() <= at.getTime())
    if (!current) return null
    const plan = toPlanRecord(await this.planRow(this.client, current.planKey, current.planVersion))
    return { plan, assignment: current, scheduled: open.find((a) => a.effectiveFrom.getTime() > at.getTime()) ?? null }
  }

  /** A tenant's assignments, oldest first (what billing prorates by). */
  async planHistory(tenantId: string): Promise<PlanAssignment[]> {
    const rows = await this.client.llmTenantPlan.findMany({
      where: { tenantId: assertIdentifier(tenantId, 'tenantId') },
      orderBy: [{ effectiveFrom: 'asc' }, { createdAt: 'asc' }],
    })
    return (rows as Array<Record<string, unknown>>).map(toAssignment)
  }

  /** The tenants on a plan now (any version, or `version`), by id. */
  async tenantsOnPlan(key: string, options: { version?: number } = {}): Promise<string[]> {
    assertPlanKey(key)
    assertQuery(options, ['version'], 'options')
    const now = this.config.now()
    const version = options.version === undefined ? {} : { planVersion: assertPlanVersion(options.version, 'options.version') }
    const rows = (await this.client.llmTenantPlan.findMany({ where: { planKey: key, ...version, effectiveFrom: { lte: now }, ...notEndedBy(now) } })) as Array<{
      tenantId: string
    }>
    return [...new Set(rows.map((r) => r.tenantId))].sort()
  }

  private async latestRow(key: string, db: Tx = this.client): Promise<Record<string, unknown> | null> {
    return (await db.llmPlan.findFirst({ where: { key }, orderBy: { version: 'desc' } })) as Record<string, unknown> | null
  }

  private planRow(db: Tx, key: string, version?: number): Promise<PlanRow> {
    return findPlanRow(db, key, version)
  }

  /** Serialises concurrent changes of one tenant's plan (PostgreSQL; SQLite has one writer). */
  private async lockTenant(tx: Tx, tenantId: string): Promise<void> {
    if (this.provider === 'postgresql') await tx.$queryRawUnsafe(`SELECT 1 FROM "llm_tenants" WHERE "tenant_id" = $1 FOR UPDATE`, tenantId)
  }
}

/** Creates the plan store over the app's Prisma client. */
export function createPlans(client: unknown, config?: LlmConfig | LlmConfigInput): LlmPlans {
  return new LlmPlans(client, config)
}
