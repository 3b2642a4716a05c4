/**
 * The command's errors and exit codes: 0 ok, 1 failure (the database refused, a tenant or key does
 * not exist, doctor found problems), 2 bad usage (an unknown command or flag, a flag value outside
 * what it allows — always checked before anything is read or written).
 *
 * Every message that leaves the process goes through `safeText`: key-shaped strings (tenant API
 * keys, provider keys, bearer tokens) and the password of DATABASE_URL are redacted, and Prisma's
 * multi-line driver errors are cut to their first meaningful line — a secret never reaches stderr.
 */
import { ApiKeyExpiredError, ApiKeyNotFoundError, ApiKeyRevokedError, InvalidApiKeyError } from '../keys/errors.js'
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'
import { redactText } from '../foundation/redact.js'
import { TenantNotFoundError } from '../tenant/errors.js'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** Bad usage: a flag value the command does not accept (exit 2). Names the flag and what it allows. */
export class UsageError extends Error {
  readonly flag: string
  readonly allowed: string

  constructor(flag: string, allowed: string, received?: unknown) {
    super(`${flag}: ${received === undefined ? 'required' : `${describeValue(received)} is not allowed`}; expected ${allowed}`)
    this.name = 'UsageError'
    this.flag = flag
    this.allowed = allowed
  }
}

/** A failure the command explains itself (exit 1), with the fix when there is one. */
export class CliFailure extends Error {
  readonly fix?: string

  constructor(message: string, fix?: string) {
    super(message)
    this.name = 'CliFailure'
    this.fix = fix
  }
}

function describeValue(value: unknown): string {
  const text = redactText(String(value))
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)
}

/** Secrets known to this process (the database password), redacted from every message. */
const knownSecrets = new Set<string>()

/** Registers a secret (e.g. the password in DATABASE_URL) so no message ever shows it. */
export function registerSecret(secret: string | undefined | null): void {
  if (secret && secret.length >= 3) {
    knownSecrets.add(secret)
    knownSecrets.add(encodeURIComponent(secret))
  }
}

/** Redacts key-shaped strings, known secrets and passwords in URLs. */
export function safeText(text: string): string {
  let out = redactText(text).replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]+@/gi, '$1[REDACTED]@')
  for (const secret of knownSecrets) out = out.split(secret).join('[REDACTED]')
  return out
}

/** What a thrown error means for the command: its exit code and one safe message. */
export interface ErrorReport {
  exitCode: number
  kind: 'usage' | 'failure'
  message: string
  field?: string
  fix?: string
}

const NOT_FOUND = [TenantNotFoundError, ApiKeyNotFoundError, ApiKeyRevokedError, ApiKeyExpiredError, InvalidApiKeyError]

export function reportError(err: unknown): ErrorReport {
  if (err instanceof UsageError) return { exitCode: EXIT_USAGE, kind: 'usage', message: safeText(err.message), field: err.flag }
  if (err instanceof InvalidArgumentError) return { exitCode: EXIT_USAGE, kind: 'usage', message: safeText(err.message), field: err.field }
  if (err instanceof CliFailure) return { exitCode: EXIT_FAILURE, kind: 'failure', message: safeText(err.message), fix: err.fix && safeText(err.fix) }
  if (NOT_FOUND.some((type) => err instanceof type) || err instanceof LlmTenantError) {
    return { exitCode: EXIT_FAILURE, kind: 'failure', message: safeText((err as Error).message) }
  }
  return { exitCode: EXIT_FAILURE, kind: 'failure', ...databaseMessage(err) }
}

/** A driver or Prisma error, in one line, with the likely fix. */
function databaseMessage(err: unknown): { message: string; fix?: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown; code?: unknown; meta?: unknown }
  const raw = typeof e.message === 'string' ? e.message : String(err)
  // Prisma prefixes a long "Invalid `prisma.x.y()` invocation:" block: keep its last meaningful line.
  const lines = raw
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Invalid `.*` invocation/.test(l) && !/^→/.test(l) && !/^\d+\s/.test(l))
  const line = lines.at(-1) ?? raw
  const message = safeText(line.length > 300 ? `${line.slice(0, 297)}...` : line)
  if (/no such table|does not exist|relation .* does not exist|P2021/i.test(raw)) {
    return {
      message,
      fix: 'the library tables are missing: run `npx prisma-llm-tenant init`, then `npx prisma migrate deploy` (and `npx prisma-llm-tenant doctor`)',
    }
  }
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|Can't reach database|connection/i.test(raw)) {
    return { message, fix: 'check DATABASE_URL and that the database is running' }
  }
  return { message }
}
