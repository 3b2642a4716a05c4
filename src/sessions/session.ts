/**
 * One tenant's session as the OpenAI Agents SDK for JavaScript expects a session to be: its
 * `Session` interface (`getSessionId`, `getItems(limit?)`, `addItems`, `popItem`, `clearSession`),
 * so `run(agent, input, { session: store.session<AgentInputItem>(tenantId, id) })` keeps the
 * conversation in the app's database. The tenant is fixed when the object is made (from the
 * caller's authenticated context); the session id is only ever compared, never parsed.
 */
import { InvalidArgumentError } from '../foundation/errors.js'
import type { JsonValue } from '../foundation/validation.js'
import type { SessionItem } from './items.js'
import type { SessionCore, SessionOptions } from './core.js'

export class TenantSession<T extends object = SessionItem> {
  constructor(
    private readonly store: SessionCore,
    readonly tenantId: string,
    readonly sessionId: string,
    private readonly options: SessionOptions = {},
  ) {}

  /** The session's id (as the app named it). */
  async getSessionId(): Promise<string> {
    return this.sessionId
  }

  /** The history, oldest first; with `limit`, the most recent `limit` items (still oldest first). Expired items (maxAge) are never returned. */
  async getItems(limit?: number): Promise<T[]> {
    const own = await this.store.ownLimits(this.tenantId)
    return (await this.store.inTenant(this.tenantId, async (tx) =>
      this.store.readItems(tx, this.tenantId, this.sessionId, await this.store.limitsIn(tx, this.tenantId, own), limit),
    )) as T[]
  }

  /** Appends items in order, in one transaction (retention and the tenant's storage quota apply). */
  async addItems(items: T[]): Promise<void> {
    if (!Array.isArray(items)) throw new InvalidArgumentError('items', 'an array of JSON objects', items)
    await this.store.append(
      this.tenantId,
      this.sessionId,
      items.map((item) => ({ item })),
      this.options,
    )
  }

  /** Removes the most recent item and returns it; undefined when the session has none. */
  async popItem(): Promise<T | undefined> {
    const own = await this.store.ownLimits(this.tenantId)
    return (await this.store.inTenant(this.tenantId, async (tx) => {
      const where = { tenantId: this.tenantId, sessionId: this.sessionId }
      // Lock the session's row first: concurrent pops (and appends) of one session queue here.
      if (!(await this.store.lockSession(tx, this.tenantId, this.sessionId))) return undefined
      const cutoff = this.store.cutoff(await this.store.limitsIn(tx, this.tenantId, own))
      const last = (await tx.llmSessionItem.findFirst({
        where: { ...where, ...(cutoff ? { createdAt: { gte: cutoff } } : {}) },
        orderBy: { sequence: 'desc' },
        select: { id: true, item: true, bytes: true },
      })) as { id: string; item: JsonValue; bytes: number } | null
      if (!last) return undefined
      await tx.llmSessionItem.deleteMany({ where: { id: last.id } })
      await tx.llmSession.updateMany({
        where,
        data: { itemCount: { decrement: 1 }, bytes: { decrement: BigInt(last.bytes) }, updatedAt: this.store.config.now() },
      })
      return last.item
    })) as T | undefined
  }

  /** Removes every item of the session, and the session itself. */
  async clearSession(): Promise<void> {
    await this.store.inTenant(this.tenantId, async (tx) => {
      const where = { tenantId: this.tenantId, sessionId: this.sessionId }
      await tx.llmSessionItem.deleteMany({ where })
      await tx.llmSession.deleteMany({ where })
    })
  }
}
