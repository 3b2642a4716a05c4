/**
 * One SDK client per distinct (provider, key, base URL), in a bounded LRU. Keys are never used to
 * mutate shared/global client state: each tenant key gets its own client instance. The cache is
 * keyed by a SHA-256 of the key, so the raw key is not even a Map key.
 */
import { createHash } from 'node:crypto'
import type { ProviderName } from './types.js'
import { MissingProviderSdkError } from './errors.js'

export interface ProviderEndpoint {
  baseURL?: string
  /** Default key for this provider (after tenant and per-call keys). */
  apiKey?: string
}

export class SdkClientCache {
  private readonly clients = new Map<string, unknown>()
  constructor(readonly maxSize = 256) {}

  get size(): number {
    return this.clients.size
  }

  async get(provider: ProviderName, apiKey: string, endpoint: ProviderEndpoint = {}): Promise<unknown> {
    const id = createHash('sha256')
      .update(`${provider}\0${endpoint.baseURL ?? ''}\0${apiKey}`)
      .digest('hex')
    const hit = this.clients.get(id)
    if (hit) {
      this.clients.delete(id) // refresh LRU position
      this.clients.set(id, hit)
      return hit
    }
    const client = await createClient(provider, apiKey, endpoint.baseURL)
    this.clients.set(id, client)
    while (this.clients.size > this.maxSize) this.clients.delete(this.clients.keys().next().value as string)
    return client
  }
}

/** The official SDK package of each provider (optional peer dependencies: an app installs the ones it uses). */
const SDK_PACKAGES: Record<ProviderName, string> = { openai: 'openai', anthropic: '@anthropic-ai/sdk' }

/**
 * Imports a provider's SDK. A package the app did not install is a MissingProviderSdkError naming it
 * and its install command, thrown when the agent's run is prepared (before any admission), not
 * the raw ERR_MODULE_NOT_FOUND of a dynamic import.
 */
async function importSdk<T>(provider: ProviderName, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown }
    const missing = (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes(`'${SDK_PACKAGES[provider]}'`)
    if (missing) throw new MissingProviderSdkError(provider, SDK_PACKAGES[provider])
    throw err
  }
}

async function createClient(provider: ProviderName, apiKey: string, baseURL?: string): Promise<unknown> {
  // Retries are ours (each attempt admitted, recorded and costed), so the SDKs' own are off.
  if (provider === 'openai') {
    const { default: OpenAI } = await importSdk(provider, () => import('openai'))
    return new OpenAI({ apiKey, baseURL, maxRetries: 0, logLevel: 'off' })
  }
  const { default: Anthropic } = await importSdk(provider, () => import('@anthropic-ai/sdk'))
  return new Anthropic({ apiKey, baseURL, maxRetries: 0, logLevel: 'off' })
}
