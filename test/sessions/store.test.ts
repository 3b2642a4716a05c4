/**
 * The conversation store on both databases: the OpenAI Agents SDK's session interface, ordered
 * atomic appends (concurrent ones never interleave), retention (maxItems, maxAge), the per-tenant
 * storage quota from the plan (a typed error; a refused append writes nothing), listing, exporting
 * and deleting a tenant's sessions (audited), and bad input refused before anything is written.
 */
import { describe, expect, it } from 'vitest'
import { createAuditLog, createPlans } from '../../src/index.ts'
import { createSessionStore, SessionQuotaExceededError } from '../../src/sessions/index.ts'
import { DATABASES, useDatabase } from '../support/databases.ts'

const msg = (text: string, role = 'user') => ({ role, content: text })
const counts = async (db: ReturnType<ReturnType<typeof useDatabase>>, tenantId: string) => {
  const [s] = await db.rawQuery<{ items: number | string; bytes: number | string }>(
    `SELECT COALESCE(SUM(item_count), 0) AS items, COALESCE(SUM(bytes), 0) AS bytes FROM llm_sessions WHERE tenant_id = ${db.kind === 'postgresql' ? '$1' : '?'}`,
    [tenantId],
  )
  const [i] = await db.rawQuery<{ items: number | string; bytes: number | string }>(
    `SELECT COUNT(*) AS items, COALESCE(SUM(bytes), 0) AS bytes FROM llm_session_items WHERE tenant_id = ${db.kind === 'postgresql' ? '$1' : '?'}`,
    [tenantId],
  )
  return { session: { items: Number(s.items), bytes: Number(s.bytes) }, stored: { items: Number(i.items), bytes: Number(i.bytes) } }
}

describe.each(DATABASES)('conversation store on %s', (kind) => {
  const db = useDatabase(kind)

  it('implements the SDK session interface: getSessionId, getItems(limit?), addItems, popItem, clearSession', async () => {
    const store = createSessionStore(db().client)
    const s = store.session('acme', 'conv-1')
    expect(await s.getSessionId()).toBe('conv-1')
    expect(await s.getItems()).toEqual([])
    expect(await s.popItem()).toBeUndefined()
    await s.addItems([msg('one'), msg('two', 'assistant')])
    await s.addItems([])
    await s.addItems([msg('three'), { type: 'function_call', name: 'lookup', arguments: '{"id":1}', callId: 'c1' }])
    expect(await s.getItems()).toEqual([
      msg('one'),
      msg('two', 'assistant'),
      msg('three'),
      { type: 'function_call', name: 'lookup', arguments: '{"id":1}', callId: 'c1' },
    ])
    expect(await s.getItems(2)).toEqual([msg('three'), { type: 'function_call', name: 'lookup', arguments: '{"id":1}', callId: 'c1' }])
    expect(await s.getItems(0)).toEqual([])
    expect(await s.getItems(-1)).toEqual([])
    expect(await s.popItem()).toEqual({ type: 'function_call', name: 'lookup', arguments: '{"id":1}', callId: 'c1' })
    expect(await s.getItems()).toEqual([msg('one'), msg('two', 'assistant'), msg('three')])
    await s.addItems([msg('four')])
    const rows = await db().rawQuery<{ sequence: number; role: string }>(
      `SELECT sequence, role FROM llm_session_items WHERE session_id = 'conv-1' ORDER BY sequence`,
    )
    expect(rows.map((r) => [Number(r.sequence), r.role])).toEqual([
      [1, 'user'],
      [2, 'assistant'],
      [3, 'user'],
      [5, 'user'], // a popped item's sequence is never reused
    ])
    expect(await counts(db(), 'acme')).toEqual({ session: (await counts(db(), 'acme')).stored, stored: (await counts(db(), 'acme')).stored })
    await s.clearSession()
    expect(await s.getItems()).toEqual([])
    expect((await store.listSessions('acme')).sessions).toEqual([])
  })

  it('concurrent appends to one session each land whole and in one order, with no sequence twice', async () => {
    const store = createSessionStore(db().client)
    const turns = Array.from({ length: 12 }, (_, t) => [msg(`q${t}`), msg(`a${t}`, 'assistant'), msg(`f${t}`, 'tool')])
    await Promise.all(turns.map((items) => store.session('acme', 'busy').addItems(items)))
    const items = (await store.session('acme', 'busy').getItems()) as Array<{ content: string }>
    expect(items).toHaveLength(36)
    for (let i = 0; i < 36; i += 3) {
      const t = items[i].content.slice(1)
      expect(items.slice(i, i + 3).map((x) => x.content)).toEqual([`q${t}`, `a${t}`, `f${t}`]) // a turn is contiguous
    }
    expect(new Set(items.map((x) => x.content)).size).toBe(36)
    const seq = await db().rawQuery<{ sequence: number }>(`SELECT sequence FROM llm_session_items WHERE session_id = 'busy' ORDER BY sequence`)
    expect(seq.map((r) => Number(r.sequence))).toEqual(Array.from({ length: 36 }, (_, i) => i + 1))
  })

  it('retention: maxItems keeps the newest; maxAge hides old items and deletes them on append and prune', async () => {
    let now = new Date('2026-03-01T00:00:00Z')
    const store = createSessionStore(db().client, { config: { now: () => now }, defaults: { maxItems: 3, maxAge: 3600 } })
    const s = store.session('ret', 'r1')
    await s.addItems([msg('1'), msg('2')])
    await s.addItems([msg('3'), msg('4'), msg('5')])
    expect(await s.getItems()).toEqual([msg('3'), msg('4'), msg('5')])
    now = new Date(now.getTime() + 1800_000)
    await s.addItems([msg('6')])
    expect(await s.getItems()).toEqual([msg('4'), msg('5'), msg('6')])
    now = new Date(now.getTime() + 2400_000) // 1 h 10 min after the first items, 40 min after '6'
    expect(await s.getItems()).toEqual([msg('6')]) // expired items are never returned …
    expect((await counts(db(), 'ret')).stored.items).toBe(3) // … and are still stored until an append or prune
    await store.session('ret', 'r2').addItems([msg('other')])
    now = new Date(now.getTime() + 3700_000)
    expect(await s.popItem()).toBeUndefined() // only expired items left
    expect(await store.prune('ret')).toEqual({ items: 4, sessions: 2 }) // r1's 3 + r2's 1; both sessions left empty for > 1 h
    const c = await counts(db(), 'ret')
    expect(c.stored).toEqual({ items: 0, bytes: 0 })
    expect(c.session).toEqual(c.stored)
    expect((await store.listSessions('ret')).sessions).toEqual([])
  })

  it('storage quota from the plan: an append past it throws SessionQuotaExceededError and writes nothing', async () => {
    const plans = createPlans(db().client)
    await plans.definePlan({ key: 'chat-small', name: 'Chat small', sessions: { storageBytes: 200, maxItems: 50 } })
    expect((await plans.getPlan('chat-small')).sessions).toEqual({ storageBytes: 200, maxItems: 50 })
    await plans.changePlan('quota', 'chat-small')
    const store = createSessionStore(db().client, { config: { tenantCacheTtlMs: 0 } })
    const big = msg('x'.repeat(60)) // 88 bytes of JSON
    await store.session('quota', 'q1').addItems([big])
    await store.session('quota', 'q2').addItems([big])
    const before = await counts(db(), 'quota')
    const err = await store
      .session('quota', 'q1')
      .addItems([big])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SessionQuotaExceededError)
    expect(err).toMatchObject({ code: 'SESSION_QUOTA_EXCEEDED', tenantId: 'quota', sessionId: 'q1', limitBytes: 200n, usedBytes: 176n, requestedBytes: 88n })
    expect(await counts(db(), 'quota')).toEqual(before)
    expect(await store.storage('quota')).toEqual({ sessions: 2, items: 2, bytes: 176, limits: { maxItems: 50, maxAge: null, storageBytes: 200 } })
    // The tenant's own limits win over the plan's; concurrent appends never go past the quota.
    const own = createSessionStore(db().client, { config: { tenantCacheTtlMs: 0 }, tenantLimits: (t) => (t === 'quota' ? { storageBytes: 1000 } : null) })
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => own.session('quota', `c${i % 3}`).addItems([big])))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9) // (1000 - 176) / 88 = 9.4
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof SessionQuotaExceededError)).toBe(true)
    const after = await counts(db(), 'quota')
    expect(after.stored.bytes).toBe(176 + 9 * 88)
    expect(after.session).toEqual(after.stored)
  })

  it('lists, exports (JSON) and deletes a tenant’s sessions — exports and deletions audited', async () => {
    const store = createSessionStore(db().client)
    for (const id of ['e3', 'e1', 'e2'])
      await store.session('dsr', id, { agent: 'Support', metadata: { channel: 'web' } }).addItems([msg(`hi ${id}`), msg('ok', 'assistant')])
    await store.session('dsr-other', 'e1').addItems([msg('not yours')])
    const first = await store.listSessions('dsr', { limit: 2 })
    expect(first.sessions.map((s) => [s.sessionId, s.itemCount, s.agent])).toEqual([
      ['e1', 2, 'Support'],
      ['e2', 2, 'Support'],
    ])
    const second = await store.listSessions('dsr', { limit: 2, cursor: first.nextCursor! })
    expect(second).toMatchObject({ sessions: [{ sessionId: 'e3' }], nextCursor: null })
    const exported = await store.exportSessions('dsr', {}, { actor: { type: 'user', id: 'dpo' } })
    expect(JSON.parse(JSON.stringify(exported))).toEqual(exported) // plain JSON
    expect(exported.sessions.map((s) => [s.sessionId, s.metadata, s.items.map((i) => [i.sequence, i.role, i.item])])).toEqual(
      ['e1', 'e2', 'e3'].map((id) => [
        id,
        { channel: 'web' },
        [
          [1, 'user', msg(`hi ${id}`)],
          [2, 'assistant', msg('ok', 'assistant')],
        ],
      ]),
    )
    expect(JSON.stringify(exported)).not.toContain('not yours')
    expect((await store.exportSessions('dsr', { sessionIds: ['e2'] })).sessions.map((s) => s.sessionId)).toEqual(['e2'])
    expect(await store.deleteSession('dsr', 'e1', { actor: { type: 'user', id: 'dpo' } })).toBe(true)
    expect(await store.deleteSession('dsr', 'e1')).toBe(false)
    expect(await store.deleteSessions('dsr')).toBe(2)
    expect((await store.listSessions('dsr')).sessions).toEqual([])
    expect(await store.session('dsr-other', 'e1').getItems()).toEqual([msg('not yours')])
    const events = (await createAuditLog(db().client).events({ tenantId: 'dsr' })).events
    expect(events.map((e) => [e.action, `${e.actor.type}:${e.actor.id}`, e.before ?? e.metadata]).reverse()).toEqual([
      ['sessions.exported', 'user:dpo', { items: 6, sessions: 3 }],
      ['sessions.exported', 'system:null', { items: 2, sessions: 1, sessionIds: ['e2'] }],
      ['session.deleted', 'user:dpo', { agent: 'Support', bytes: 68, items: 2 }],
      ['sessions.deleted', 'system:null', { items: 4, sessions: 2 }],
    ])
    expect(JSON.stringify(events)).not.toContain('hi e1') // events carry counts, never content
  })

  it('refuses bad ids, items and options before writing anything', async () => {
    const store = createSessionStore(db().client)
    for (const id of ['', '\uD800', 'a\u0000b', 'x'.repeat(256), 42]) expect(() => store.session('acme', id as string), JSON.stringify(id)).toThrow(/sessionId/)
    for (const id of ['', '\uDC00x', null]) expect(() => store.session(id as string, 's'), JSON.stringify(id)).toThrow(/tenantId/)
    const s = store.session('bad', 's')
    for (const items of [[null], [[1]], ['text'], [{ n: 1n }], [{ t: 'a\u0000' }], [{ t: '\uD83D' }], 'nope']) {
      await expect(
        s.addItems(items as never),
        JSON.stringify(items, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
    }
    await expect(s.getItems(1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect(() => createSessionStore(db().client, { defaults: { maxItems: 0 } })).toThrow(/options\.defaults\.maxItems/)
    expect(() => createSessionStore(db().client, { nope: 1 } as never)).toThrow(/options\.nope/)
    expect(await store.listSessions('bad')).toEqual({ sessions: [], nextCursor: null })
    await expect(store.listSessions('bad', { cursor: 'garbage' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(createPlans(db().client).definePlan({ key: 'bad-sessions', name: 'x', sessions: { storageBytes: -1 } })).rejects.toThrow(
      /plan\.sessions\.storageBytes/,
    )
    // Emoji and other well-formed text are fine.
    await s.addItems([{ t: '😀 é ß' }])
    expect(await s.getItems()).toEqual([{ t: '😀 é ß' }])
  })
})
