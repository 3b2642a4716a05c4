/**
 * Who makes an admin change. An app sets the actor once per request (`withActor(actor, fn)`,
 * AsyncLocalStorage: every admin write inside `fn`, however deep, is attributed to it) or passes it
 * to one call (`{ actor }`, the last argument of every admin method), which wins over the ambient
 * one. Without either, a change is attributed to `{ type: 'system' }` — never left unattributed.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { InvalidArgumentError } from '../foundation/errors.js'
import { assertQuery } from '../foundation/validation.js'

export interface AuditActor {
  /** What kind of actor: 'user', 'api_key', 'system', 'job', … (letters, digits, `_ . : -`, at most 64). */
  type: string
  /** The actor's id as the app names it (a user id, a job name); null = not known. */
  id?: string | null
  /** The tenant API key the change was made with (its stable id), if any. */
  apiKeyId?: string | null
  /** The request the change was made in (e.g. an HTTP request id), for correlating with logs. */
  requestId?: string | null
}

/** The optional last argument of every admin method. */
export interface AuditOptions {
  /** Overrides the ambient `withActor` actor for this change. */
  actor?: AuditActor
  /** Free-form JSON recorded with the event (credential-shaped keys redacted). */
  auditMetadata?: Record<string, unknown> | null
}

const storage = new AsyncLocalStorage<AuditActor>()
const SYSTEM: Readonly<AuditActor> = Object.freeze({ type: 'system', id: null, apiKeyId: null, requestId: null })
const ACTOR_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/

/** Validates an actor (a typed error naming the field; nothing is written with a bad actor). */
function parseActor(actor: unknown, field = 'actor'): AuditActor {
  assertQuery(actor, ['type', 'id', 'apiKeyId', 'requestId'], field)
  const a = actor as AuditActor
  if (typeof a.type !== 'string' || !ACTOR_TYPE.test(a.type)) {
    throw new InvalidArgumentError(`${field}.type`, "1–64 letters, digits or _ . : - (e.g. 'user', 'api_key', 'system')", a.type)
  }
  for (const key of ['id', 'apiKeyId', 'requestId'] as const) {
    const v = a[key]
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.length === 0 || v.length > 191)) {
      throw new InvalidArgumentError(`${field}.${key}`, 'a non-empty string of at most 191 characters, or null', v)
    }
  }
  return { type: a.type, id: a.id ?? null, apiKeyId: a.apiKeyId ?? null, requestId: a.requestId ?? null }
}

/** Runs `fn` with `actor` as the author of every admin change made inside it. */
export function withActor<T>(actor: AuditActor, fn: () => T): T {
  const parsed = parseActor(actor)
  if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'a function to run as the actor', fn)
  return storage.run(parsed, () => {
    const result = fn()
    // Prisma's query promises are lazy: they run when first awaited. Awaiting starts here, inside
    // the actor's scope — not in the caller's `await`, after the scope has ended.
    const thenable = result as { then?: unknown } | null
    return (thenable && typeof thenable === 'object' && typeof thenable.then === 'function' ? Promise.resolve(result) : result) as T
  })
}

/** The actor of a change: the call's option, else the ambient actor, else 'system'. */
export function actorOf(options: AuditOptions | undefined): AuditActor {
  if (options?.actor !== undefined) return parseActor(options.actor, 'audit.actor')
  return storage.getStore() ?? SYSTEM
}

/** Validates the optional audit argument of an admin method before anything is written. */
export function assertAuditOptions(options: unknown, field = 'audit'): AuditOptions {
  if (options === undefined) return {}
  assertQuery(options, ['actor', 'auditMetadata'], field)
  const o = options as AuditOptions
  if (o.actor !== undefined) parseActor(o.actor, `${field}.actor`)
  const m = o.auditMetadata
  if (m !== undefined && m !== null && (typeof m !== 'object' || Array.isArray(m))) {
    throw new InvalidArgumentError(`${field}.auditMetadata`, 'a plain JSON object or null', m)
  }
  return o
}
