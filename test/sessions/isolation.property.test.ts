/**
 * Property (fast-check): tenant and session ids that alias one another under a careless key scheme
 * — 'a' + 'b:c' vs 'a:b' + 'c', LIKE wildcards ('%', '_'), case, Unicode normalisation forms,
 * emoji, quotes and backslashes, random graphemes — never reach another (tenant, session): after
 * any sequence of appends, every session returns exactly its own items, and every tenant lists and
 * exports exactly its own sessions. On PostgreSQL it also runs on the plain app role under the
 * shipped row-level security.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createSessionStore, type LlmSessionStore } from '../../src/sessions/index.ts'
import { DATABASES, POSTGRES_URL, useDatabase, type TestClient } from '../support/databases.ts'
import { useRlsDatabase } from '../support/rls.ts'

const ALIASES = [
  'a',
  'a:b',
  'b',
  'b:c',
  'a:b:c',
  'A',
  'a%',
  '%',
  '_',
  'a_',
  '\u00e9',
  'e\u0301',
  '\u00c9',
  '😀',
  'a ',
  ' a',
  'a\\',
  "a'",
  'a"b',
  'a\nb',
  'ǅ',
  'ß',
  'SS',
]
const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ALIASES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).filter((s) => !s.includes('\u0000')) },
)
const appendsArb = fc.array(fc.record({ tenant: idArb, session: idArb, n: fc.integer({ min: 1, max: 2 }) }), { minLength: 2, maxLength: 12 })

async function checkIsolation(store: LlmSessionStore, clear: () => Promise<void>, runs: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(appendsArb, async (appends) => {
      await clear()
      const model = new Map<string, Map<string, number[]>>()
      let marker = 0
      for (const a of appends) {
        const items = Array.from({ length: a.n }, () => ({ role: 'user', m: ++marker }))
        await store.session(a.tenant, a.session).addItems(items)
        const sessions = model.get(a.tenant) ?? new Map<string, number[]>()
        sessions.set(a.session, [...(sessions.get(a.session) ?? []), ...items.map((i) => i.m)])
        model.set(a.tenant, sessions)
      }
      for (const [tenant, sessions] of model) {
        for (const [session, markers] of sessions) {
          const items = (await store.session(tenant, session).getItems()) as Array<{ m: number }>
          expect(items.map((i) => i.m)).toEqual(markers)
        }
        const listed = (await store.listSessions(tenant, { limit: 500 })).sessions.map((s) => s.sessionId)
        expect([...listed].sort()).toEqual([...sessions.keys()].sort())
        const exported = await store.exportSessions(tenant)
        expect(exported.sessions.flatMap((s) => s.items.map((i) => (i.item as { m: number }).m)).sort((x, y) => x - y)).toEqual(
          [...sessions.values()].flat().sort((x, y) => x - y),
        )
      }
      // An id never written, however close to one that was, has nothing.
      for (const tenant of model.keys()) expect(await store.session(tenant, `${tenant}#never`.slice(0, 255)).getItems()).toEqual([])
    }),
    { numRuns: runs },
  )
}

describe.each(DATABASES)('session ids that alias never cross tenants or sessions on %s', (kind) => {
  const db = useDatabase(kind)
  it('every session returns exactly its own items; every tenant lists and exports exactly its own sessions', async () => {
    const store = createSessionStore(db().client)
    await checkIsolation(
      store,
      () =>
        db()
          .rawQuery('DELETE FROM llm_session_items')
          .then(() => db().rawQuery('DELETE FROM llm_sessions'))
          .then(() => undefined),
      kind === 'sqlite' ? 15 : 10,
    )
  })
})

describe.skipIf(!POSTGRES_URL)('session ids that alias, on the plain app role under row-level security', () => {
  const rls = useRlsDatabase()
  it('the database itself keeps each (tenant, session) to its own rows', async () => {
    const store = createSessionStore(rls().app as TestClient)
    await checkIsolation(
      store,
      async () => {
        await rls().db.rawQuery('DELETE FROM llm_session_items')
        await rls().db.rawQuery('DELETE FROM llm_sessions')
        await rls().db.rawQuery('DELETE FROM llm_audit_events')
      },
      6,
    )
  })
})
