/**
 * Key management by the tenant itself, with any of its valid keys. Every change is an audit event
 * written in the change's own transaction with the calling key as the actor
 * (`{ type: 'api_key', id, apiKeyId, requestId }`), so the log says which key did it in which request.
 *
 *   POST   /v1/api-keys              { name, expiresAt?, limits?, rateLimits?, metadata? } → 201, the secret once
 *   GET    /v1/api-keys              the tenant's keys (never a secret or hash)
 *   DELETE /v1/api-keys/:id          revoke → 200; already revoked → 409
 *   POST   /v1/api-keys/:id/rotate   { gracePeriod? } → 200, the new secret once
 *
 * An id of another tenant's key — or a rotated-out secret's row — is a 404, exactly like an id that
 * does not exist.
 */
import type { AuditOptions } from '../audit/actor.js'
import { InvalidArgumentError } from '../foundation/errors.js'
import { ApiKeyNotFoundError, ApiKeyRevokedError } from '../keys/errors.js'
import type { ApiKeyInput, ApiKeyRecord } from '../keys/key-record.js'
import { HttpError, jsonReply } from './errors.js'
import type { Answer } from './reply.js'
import { assertBodyKeys, pathId, queryOf, readJsonObject } from './request.js'
import { apiKeyJson } from './serialize.js'
import type { Route, RouteContext } from './context.js'

const CREATE_FIELDS = ['name', 'expiresAt', 'limits', 'rateLimits', 'metadata'] as const

/** The audit argument of every change made over HTTP: the calling key is the actor. */
function asCaller(ctx: RouteContext): AuditOptions {
  const id = ctx.caller.key.id
  return { actor: { type: 'api_key', id, apiKeyId: id, requestId: ctx.requestId } }
}

/** The library's field names (`input.name`) as the body's (`name`). */
async function asBodyErrors<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      const param = err.field.startsWith(prefix) ? err.field.slice(prefix.length) : err.field
      throw new HttpError(400, 'invalid_request', err.message.replace(err.field, param), { param, allowed: err.allowed })
    }
    throw err
  }
}

function expiresAtOf(value: unknown): Date | null | undefined {
  if (value === undefined || value === null) return value
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : null
  if (!date || Number.isNaN(date.getTime())) {
    throw new HttpError(400, 'invalid_request', 'Invalid expiresAt', {
      param: 'expiresAt',
      allowed: 'an ISO-8601 instant such as 2027-01-01T00:00:00Z, or null',
    })
  }
  return date
}

/** The key `:id` if it is a current key of the caller's tenant; 404 otherwise (another tenant's too). */
async function ownKey(ctx: RouteContext): Promise<ApiKeyRecord> {
  const id = pathId(ctx.params[0], 'API key')
  let key: ApiKeyRecord
  try {
    key = await ctx.services.keys.getApiKey(id)
  } catch (err) {
    if (err instanceof ApiKeyNotFoundError) throw new HttpError(404, 'not_found', 'No such API key')
    throw err
  }
  if (key.tenantId !== ctx.caller.tenantId || key.replacedBy !== null) throw new HttpError(404, 'not_found', 'No such API key')
  return key
}

function conflict(err: unknown): never {
  if (err instanceof ApiKeyRevokedError) throw new HttpError(409, 'conflict', 'The API key is already revoked', { code: err.code })
  throw err
}

async function create(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const body = await readJsonObject(ctx.request, ctx.services.maxBodyBytes)
  assertBodyKeys(body, CREATE_FIELDS)
  const input = { ...body, ...(body.expiresAt !== undefined ? { expiresAt: expiresAtOf(body.expiresAt) } : {}) } as unknown as ApiKeyInput
  const issued = await asBodyErrors('input.', () => ctx.services.keys.createApiKey(ctx.caller.tenantId, input, asCaller(ctx)))
  return jsonReply(201, { key: apiKeyJson(issued.key), secret: issued.secret }, ctx.requestId)
}

async function list(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const keys = await ctx.services.keys.listApiKeys(ctx.caller.tenantId)
  return jsonReply(200, { data: keys.map(apiKeyJson) }, ctx.requestId)
}

async function revoke(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const key = await ownKey(ctx)
  const revoked = await ctx.services.keys.revokeApiKey(key.id, asCaller(ctx)).catch(conflict)
  return jsonReply(200, { key: apiKeyJson(revoked) }, ctx.requestId)
}

async function rotate(ctx: RouteContext): Promise<Answer> {
  queryOf(ctx.url, [])
  const body = await readJsonObject(ctx.request, ctx.services.maxBodyBytes, true)
  assertBodyKeys(body, ['gracePeriod'])
  const key = await ownKey(ctx)
  const options = body.gracePeriod === undefined ? {} : { gracePeriod: body.gracePeriod as number | string }
  const rotated = await asBodyErrors('options.', () => ctx.services.keys.rotateApiKey(key.id, options, asCaller(ctx)).catch(conflict))
  return jsonReply(
    200,
    { key: apiKeyJson(rotated.key), secret: rotated.secret, previousSecretRetiresAt: rotated.previousSecretRetiresAt.toISOString() },
    ctx.requestId,
  )
}

export const KEY_ROUTES: Route[] = [
  { method: 'POST', path: '/v1/api-keys', run: create },
  { method: 'GET', path: '/v1/api-keys', run: list },
  { method: 'DELETE', path: '/v1/api-keys/:id', run: revoke },
  { method: 'POST', path: '/v1/api-keys/:id/rotate', run: rotate },
]
