/**
 * Scenario: the tenant HTTP API (`prisma-llm-tenant/http`) under load, on SQLite and PostgreSQL.
 * A node:http server on 127.0.0.1 runs `toNodeListener(createLlmHttpHandler(…))`; autocannon, in a
 * child process of its own (so the load generator's CPU is not the server's), holds 64 connections
 * open, each with the key of one of 8 tenants, for a fixed time:
 *  (a) `GET /v1/usage` on a seeded 100,000-row ledger (measured before any run adds to it) —
 *      requests/s, p50, p99; beside the same three reads in-process (usage summary, budget status,
 *      rate windows) by 64 concurrent loops;
 *  (b) `POST /v1/agents/bench/run` with a zero-latency provider (the bundled emulator, in this
 *      process) — requests/s, p50, p99; beside the same run in-process (`agent.run` with the
 *      tenant, key, request id and an abort signal, as the route runs it) by 64 concurrent loops.
 *      Goal: in-process calls/s ÷ HTTP requests/s ≤ 1.3.
 * Both also behind a bare node:http handler that does the same work with no routing, auth, checks or
 * Fetch bridge (the tenant from a header): our layer ÷ that is what the API itself costs; the rest
 * of the gap to in-process is node:http and the loopback on this 2-core machine.
 * Rounds alternate so drift hits every variant; every answer must be a 2xx.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Options as AutocannonOptions } from 'autocannon'
import { createApiKeys, createLedger, createLlmRuntime, TenantStore } from '../../src/index.ts'
import { createLlmHttpHandler, toNodeListener } from '../../src/http/index.ts'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { openDatabase, type DbKind } from '../../test/support/databases.ts'
import { PER_CALL_CONFIG, type Mode } from '../scenarios.ts'
import { seedLedger } from './seed.ts'
import { percentile, type Figure } from './stats.ts'

const SCENARIO = '10 HTTP API'
const TENANTS = 8
const CONNECTIONS = 64
/** The ledger the usage reads run on (seeded, 30 days, the 8 tenants): fixed while usage is measured. */
const LEDGER_ROWS = 100_000

interface Load {
  rps: number
  p50: number
  p99: number
  bad: number
  /** CPU (user + system) of this process per request or call, µs — the server's side of the work. */
  cpu: number
  /** CPU of the load generator per request, µs (autocannon only: the share of the 2 cores it takes). */
  loadCpu?: number
  /** Requests or calls completed. */
  done: number
}

/** Runs `measure` and adds this process's CPU per request or call (µs) to its Load. */
async function withCpu(measure: () => Promise<Omit<Load, 'cpu'>>): Promise<Load> {
  const before = process.cpuUsage()
  const load = await measure()
  const used = process.cpuUsage(before)
  return { ...load, cpu: (used.user + used.system) / load.done }
}

/** autocannon in a child process: `connections` connections, each with one of `keys`, for `seconds`. */
function autocannon(url: string, keys: string[], seconds: number, body?: string): Promise<Load> {
  return withCpu(() => autocannonRun(url, keys, seconds, body))
}

function autocannonRun(url: string, keys: string[], seconds: number, body?: string): Promise<Omit<Load, 'cpu'>> {
  const options: AutocannonOptions = { url, connections: CONNECTIONS, duration: seconds, method: body ? 'POST' : 'GET', body }
  const script = `
    import autocannon from 'autocannon'
    const { options, keys } = JSON.parse(process.argv[1])
    let n = 0
    const cpu = process.cpuUsage()
    const r = await autocannon({ ...options, setupClient: (c) => c.setHeaders({ 'content-type': 'application/json', authorization: 'Bearer ' + keys[n++ % keys.length] }) })
    const used = process.cpuUsage(cpu)
    const loadCpu = (used.user + used.system) / r.requests.total
    process.stdout.write(JSON.stringify({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors + r.timeouts, loadCpu, done: r.requests.total }))`
  const args = ['--input-type=module', '-e', script, JSON.stringify({ options, keys })]
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { cwd: new URL('../..', import.meta.url).pathname, maxBuffer: 1 << 20 }, (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out)),
    ),
  )
}

/** `connections` concurrent loops calling `fn` for `seconds`: calls/s and latency percentiles (ms). */
function loops(fn: (i: number) => Promise<unknown>, seconds: number): Promise<Load> {
  return withCpu(() => loopsRun(fn, seconds))
}

async function loopsRun(fn: (i: number) => Promise<unknown>, seconds: number): Promise<Omit<Load, 'cpu'>> {
  const latencies: number[] = []
  let bad = 0
  const start = performance.now()
  const end = start + seconds * 1000
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      for (let i = c; performance.now() < end; i += CONNECTIONS) {
        const t = performance.now()
        await fn(i).catch(() => bad++)
        latencies.push(performance.now() - t)
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  return {
    rps: latencies.length / ((performance.now() - start) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bad,
    done: latencies.length,
  }
}

export async function httpScenario(kind: DbKind, mode: Mode): Promise<Figure[]> {
  const db = await openDatabase(kind)
  const emulator = await new ProviderEmulator().start()
  const runs = new Map<string, number[]>()
  const add = (k: string, v: number) => runs.set(k, [...(runs.get(k) ?? []), v])
  const server = createServer()
  const bare = createServer()
  let bad = 0
  try {
    const runtime = createLlmRuntime(db.client, {
      config: { ...PER_CALL_CONFIG, refusalBackoffMs: 0 },
      providers: { openai: { baseURL: emulator.openaiBaseURL, apiKey: 'sk-bench' } },
    })
    const agent = runtime.defineAgent({ name: 'bench', provider: 'openai', model: 'gpt-4o-mini', retries: 0 })
    const keys = createApiKeys(db.client, { config: runtime.config, prefix: 'sk_bench', pepper: 'a-pepper-for-the-http-bench' })
    const store = new TenantStore(db.client)
    const tenants = Array.from({ length: TENANTS }, (_, t) => `tenant-${t}`)
    for (const t of tenants) await store.upsert({ tenantId: t, enforcement: 'hard' })
    await seedLedger(db, { rows: LEDGER_ROWS, tenants: TENANTS, days: 30, now: new Date() })
    const issued = await Promise.all(tenants.map((t) => keys.createApiKey(t, { name: 'bench' })))
    const secrets = issued.map((k) => k.secret)
    server.on('request', toNodeListener(createLlmHttpHandler(db.client, { apiKeys: keys, runtime, basePath: '/api' })))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`

    const tenantOf = (i: number) => i % TENANTS
    const ledger = createLedger(db.client, runtime.config)
    const usageInProcess = (i: number) =>
      Promise.all([
        ledger.usageSummary({ tenantId: tenants[tenantOf(i)], period: 'this_month' }),
        runtime.budgets.status(tenants[tenantOf(i)]),
        runtime.budgets.rateLimitStatus(tenants[tenantOf(i)]),
      ])
    // The same run the route makes (tracing is off here, so the route too passes the request id as
    // the trace id): with a request id as its trace id and in its metadata, and a
    // signal that would abort it (the route passes the request's, so a client that goes away
    // cancels the call). Without these the in-process side skipped work the route is asked to do.
    const runInProcess = (i: number, input = 'hello') => {
      const requestId = `req_${randomUUID().replaceAll('-', '')}`
      return agent.run(input, {
        tenant: tenants[tenantOf(i)],
        apiKeyId: issued[tenantOf(i)].key.id,
        signal: new AbortController().signal,
        traceId: requestId,
        metadata: { requestId },
      })
    }
    const body = JSON.stringify({ input: 'hello' })
    const tenantIndex = new Map(secrets.map((k, i) => [`Bearer ${k}`, i]))
    bare.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const i = tenantIndex.get(req.headers.authorization ?? '') ?? 0
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        try {
          const out = req.method === 'POST' ? await runInProcess(i, JSON.parse(Buffer.concat(chunks).toString()).input) : await usageInProcess(i)
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify('text' in out ? { text: out.text, cost: out.cost.toFixed() } : { cost: out[0].cost.toFixed() }))
        } catch {
          res.writeHead(500).end()
        }
      })
    })
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve))
    const bareBase = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`
    const seconds = mode.quick ? 3 : 5

    // Warm-up before each part: caches, prepared statements, JIT, every path.
    await autocannon(`${base}/v1/usage`, secrets, 1)
    await loops(usageInProcess, 1)
    // Each round changes which variant goes first, so drift hits each alike.
    const variants = async (r: number, list: Array<[string, () => Promise<Load>]>) => {
      const out: Record<string, Load> = {}
      for (const [name, go] of r % 2 === 0 ? list : [...list].reverse()) out[name] = await go()
      return out
    }
    const record = (what: string, out: Record<string, Load>) => {
      for (const [name, l] of Object.entries(out)) {
        add(`${what} ${name} rps`, l.rps)
        add(`${what} ${name} p50`, l.p50)
        add(`${what} ${name} p99`, l.p99)
        bad += l.bad
      }
      add(`${what} ratio`, out.local.rps / out.http.rps)
      add(`${what} cpu http`, out.http.cpu)
      add(`${what} cpu local`, out.local.cpu)
      add(`${what} cpu ratio`, out.http.cpu / out.local.cpu)
      add(`${what} cpu bare ratio`, out.http.cpu / out.bare.cpu)
      add(`${what} load cpu`, out.http.loadCpu ?? Number.NaN)
      add(`${what} p50 ratio`, out.http.p50 / out.local.p50)
      add(`${what} bare ratio`, out.bare.rps / out.http.rps)
    }
    // (a) first, on the seeded ledger alone: the runs of (b) add to it.
    for (let r = 0; r < mode.repeats; r++) {
      record(
        'usage',
        await variants(r, [
          ['http', () => autocannon(`${base}/v1/usage`, secrets, seconds)],
          ['local', () => loops(usageInProcess, seconds)],
          ['bare', () => autocannon(`${bareBase}/usage`, secrets, seconds)],
        ]),
      )
    }
    await autocannon(`${base}/v1/agents/bench/run`, secrets, 1, body)
    await loops(runInProcess, 1)
    for (let r = 0; r < mode.repeats; r++) {
      emulator.requests.length = 0
      record(
        'run',
        await variants(r, [
          ['http', () => autocannon(`${base}/v1/agents/bench/run`, secrets, seconds, body)],
          ['local', () => loops(runInProcess, seconds)],
          ['bare', () => autocannon(`${bareBase}/run`, secrets, seconds, body)],
        ]),
      )
    }
    add('bad', bad)
  } finally {
    for (const s of [server, bare]) {
      s.closeAllConnections()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    }
    await emulator.close()
    await db.close()
  }
  const f = (metric: string, unit: string, key: string): Figure => ({ scenario: SCENARIO, db: kind, metric, unit, runs: runs.get(key)! })
  return [
    f('GET /v1/usage over HTTP, 100,000-row ledger, 64 connections', 'calls/s', 'usage http rps'),
    f('GET /v1/usage over HTTP p50', 'ms', 'usage http p50'),
    f('GET /v1/usage over HTTP p99', 'ms', 'usage http p99'),
    f('usage reads in-process, 64 in flight', 'calls/s', 'usage local rps'),
    f('usage reads in-process p50', 'ms', 'usage local p50'),
    f('usage: in-process calls/s ÷ HTTP requests/s', '×', 'usage ratio'),
    f('usage behind bare node:http', 'calls/s', 'usage bare rps'),
    f('usage: bare node:http ÷ our HTTP layer (requests/s)', '×', 'usage bare ratio'),
    f('run over HTTP, zero-latency provider, 64 connections', 'calls/s', 'run http rps'),
    f('run over HTTP p50', 'ms', 'run http p50'),
    f('run over HTTP p99', 'ms', 'run http p99'),
    f('run in-process, 64 in flight', 'calls/s', 'run local rps'),
    f('run in-process p50', 'ms', 'run local p50'),
    f('run in-process p99', 'ms', 'run local p99'),
    f('run: in-process calls/s ÷ HTTP requests/s', '×', 'run ratio'),
    f('run: HTTP p50 ÷ in-process p50', '×', 'run p50 ratio'),
    f('run behind bare node:http', 'calls/s', 'run bare rps'),
    f('run: bare node:http ÷ our HTTP layer (requests/s)', '×', 'run bare ratio'),
    f('run: server CPU per request over HTTP', 'µs', 'run cpu http'),
    f('run: CPU per call in-process', 'µs', 'run cpu local'),
    f('run: CPU per request over HTTP ÷ per call in-process (this process)', '×', 'run cpu ratio'),
    f('run: CPU per request, our HTTP layer ÷ bare node:http (this process)', '×', 'run cpu bare ratio'),
    f('run: load generator (autocannon) CPU per request, its own process', 'µs', 'run load cpu'),
    f('non-2xx answers and failed calls, all rounds', '', 'bad'),
  ]
}
