/**
 * Runs scenario 9 (billing, bench/lib/billing.ts) alone and prints its figures:
 * `npx tsx --expose-gc bench/billing-run.mts [--quick] [--sqlite|--postgresql]` (PostgreSQL needs TEST_POSTGRES_URL).
 */
import { POSTGRES_URL, type DbKind } from '../test/support/databases.ts'
import { invoicing } from './lib/billing.ts'
import { fmt } from './lib/stats.ts'

const quick = process.argv.includes('--quick')
const only = (['sqlite', 'postgresql'] as const).filter((k) => process.argv.includes(`--${k}`))
const kinds: DbKind[] = only.length > 0 ? [...only] : POSTGRES_URL ? ['sqlite', 'postgresql'] : ['sqlite']
for (const kind of kinds) {
  for (const f of await invoicing(kind, { quick, repeats: 1, calls: 0 })) {
    console.log(`${f.db.padEnd(10)} ${f.metric.padEnd(70)} ${fmt(f.runs[0], f.unit).padStart(9)} ${f.unit}${f.note ? `  (${f.note})` : ''}`)
  }
}
