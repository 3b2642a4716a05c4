/**
 * Tenant versions: a change counter per tenant id, bumped by every write of this library to a tenant
 * (its row, and — coming — its plan assignment, its keys), so this process's caches of tenant rows
 * are invalidated at once; other processes see the change within `tenantCacheTtlMs`.
 */
const versions = new Map<string, number>()
export function bumpTenantVersion(tenantId: string): void {
  versions.set(tenantId, (versions.get(tenantId) ?? 0) + 1)
}
export function tenantVersion(tenantId: string): number {
  return versions.get(tenantId) ?? 0
}
