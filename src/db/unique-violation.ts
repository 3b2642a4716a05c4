/**
 * Recognising a unique-constraint violation however it reaches us: Prisma's P2002 (through the
 * SQLite and PostgreSQL driver adapters alike), or the driver's own error when a statement ran on
 * a raw connection (PostgreSQL SQLSTATE 23505, SQLite's SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY).
 * Writers that insert-then-conflict (a concurrent first write, a provisioning retry) branch on it.
 */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if (e.code === 'P2002' || e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return true
    const kind = (e.meta as { driverAdapterError?: { cause?: { kind?: string } } } | undefined)?.driverAdapterError?.cause?.kind
    if (kind === 'UniqueConstraintViolation') return true
    e = (e.cause as Record<string, unknown> | undefined) ?? undefined
  }
  return false
}

/**
 * Runs `write` again once after a unique violation: two first writes of one key raced (each
 * found nothing and inserted); the loser's transaction rolled back, and its retry finds the row.
 */
export async function retryOnConflict<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    if (!isUniqueViolation(err)) throw err
    return write()
  }
}
