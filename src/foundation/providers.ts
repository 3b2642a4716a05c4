/**
 * The names of the providers the library speaks. The adapters live in src/providers/ (layer 2),
 * but the list is needed lower and beside it: tenants' agent configs (src/agent-configs/) validate
 * a stored provider against it and may not import the providers layer. One list, here, keeps
 * "supported" meaning the same everywhere; src/providers/types.ts re-exports it.
 */
export const PROVIDERS = ['openai', 'anthropic'] as const
export type ProviderName = (typeof PROVIDERS)[number]
