/**
 * Provider keys at rest in the app's own columns: AES-256-GCM with a random 96-bit IV, the tenant id
 * as additional authenticated data (a ciphertext copied to another tenant's row does not decrypt),
 * and a versioned format `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url) so keys can rotate.
 *
 * The key comes from the environment: LLM_TENANT_ENCRYPTION_KEY = base64 of 32 bytes (key id "k1"),
 * or LLM_TENANT_ENCRYPTION_KEYS = "k2:<base64>,k1:<base64>" (first = current, others decrypt only).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { InvalidArgumentError, LlmTenantError } from '../foundation/errors.js'

export class SecretDecryptionError extends LlmTenantError {
  constructor(reason: string) {
    super('SECRET_DECRYPTION_FAILED', `Cannot decrypt the stored secret: ${reason}`)
  }
}

export interface Keyring {
  current: string
  keys: Map<string, Buffer>
}

function parseKey(b64: string, id: string): Buffer {
  const key = Buffer.from(b64, 'base64')
  if (key.length !== 32) throw new InvalidArgumentError(`encryption key ${id}`, 'base64 of exactly 32 random bytes', `${key.length} bytes`)
  return key
}

/** Reads the keyring from the environment (or the given env object). */
export function keyringFromEnv(env: Record<string, string | undefined> = process.env): Keyring {
  const many = env.LLM_TENANT_ENCRYPTION_KEYS
  if (many) {
    const keys = new Map<string, Buffer>()
    for (const part of many
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [id, b64] = part.split(':')
      if (!id || !b64 || !/^[\w-]+$/.test(id)) throw new InvalidArgumentError('LLM_TENANT_ENCRYPTION_KEYS', '"id:base64,id:base64"', '(malformed)')
      keys.set(id, parseKey(b64, id))
    }
    return { current: [...keys.keys()][0], keys }
  }
  if (env.LLM_TENANT_ENCRYPTION_KEY) return { current: 'k1', keys: new Map([['k1', parseKey(env.LLM_TENANT_ENCRYPTION_KEY, 'k1')]]) }
  throw new InvalidArgumentError('LLM_TENANT_ENCRYPTION_KEY', 'base64 of 32 random bytes (e.g. `openssl rand -base64 32`)', undefined)
}

function currentKey(keyring: Keyring): Buffer {
  const key = keyring?.keys instanceof Map ? keyring.keys.get(keyring.current) : undefined
  if (!Buffer.isBuffer(key) || key.length !== 32)
    throw new InvalidArgumentError('keyring', '{ current, keys } with a 32-byte key for the current key id (see keyringFromEnv)', '(hidden)')
  return key
}

/** Encrypts `plaintext` bound to `tenantId`. */
export function encryptSecret(plaintext: string, tenantId: string, keyring: Keyring = keyringFromEnv()): string {
  if (typeof plaintext !== 'string' || plaintext === '') throw new InvalidArgumentError('plaintext', 'a non-empty string', '(hidden)')
  if (typeof tenantId !== 'string' || tenantId === '') throw new InvalidArgumentError('tenantId', 'a non-empty string', tenantId)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', currentKey(keyring), iv)
  cipher.setAAD(Buffer.from(tenantId, 'utf8'))
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  const b = (x: Buffer) => x.toString('base64url')
  return `v1.${keyring.current}.${b(iv)}.${b(cipher.getAuthTag())}.${b(ct)}`
}

/** Decrypts a value made by encryptSecret for the same tenant; anything else throws. */
export function decryptSecret(ciphertext: string, tenantId: string, keyring: Keyring = keyringFromEnv()): string {
  if (typeof tenantId !== 'string' || tenantId === '') throw new InvalidArgumentError('tenantId', 'a non-empty string', tenantId)
  const parts = typeof ciphertext === 'string' ? ciphertext.split('.') : []
  if (parts.length !== 5 || parts[0] !== 'v1') throw new SecretDecryptionError('not a v1 ciphertext')
  const key = keyring.keys.get(parts[1])
  if (!key) throw new SecretDecryptionError(`unknown key id "${parts[1]}"`)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2], 'base64url'))
    decipher.setAAD(Buffer.from(tenantId, 'utf8'))
    decipher.setAuthTag(Buffer.from(parts[3], 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(parts[4], 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    throw new SecretDecryptionError('authentication failed (wrong key or wrong tenant)')
  }
}
