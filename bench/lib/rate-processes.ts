/**
 * Scenario 8 (c), continued: one limit shared by four processes. Four children
 * (bench/rate-limit-child.ts) on the same database fire their calls at one key at the same moment
 * (a barrier: each waits for its GO line), first through our `LlmBudgets.track` (the tenant has
 * `requestsPerHour: 200`), then through rate-limiter-flexible's store for that database
 * (`points: 200`, `duration: 3600`). 4 × 100 calls against 200: each design must admit exactly 200;
 * what it admits beyond that is its over-admission. (An hour's window: over a run of seconds, GCRA's
 * continuous refill adds less than one call, and the peer's fixed window does not roll over.)
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { TenantStore } from '../../src/index.ts'
import type { TestDatabase } from '../../test/support/databases.ts'
import type { Mode } from '../scenarios.ts'
import type { Figure } from './stats.ts'

const PROCS = 4
/** Per process. */
const CALLS = 100
const IN_FLIGHT = 16
/** Per hour, for the one key all the processes share. */
const LIMIT = 200
const CHILD = fileURLToPath(new URL('../rate-limit-child.ts', import.meta.url))

interface Result {
  admitted: number
  refused: number
  errors: Record<string, number>
  ms: number
}

interface Child {
  /** The next line starting with `prefix` (earlier unclaimed lines included); rejects if the child exits first. */
  line(prefix: string, timeoutMs?: number): Promise<string>
  send(line: string): void
  exited: Promise<unknown>
  kill(): void
}

function startChild(db: TestDatabase, peerTable: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db.kind, db.location, peerTable], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const lines: string[] = []
  let wake: (() => void) | null = null
  let gone = false
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l)
    wake?.()
  })
  const exited = new Promise((resolve) =>
    child.on('exit', (code) => {
      gone = true
      wake?.()
      resolve(code)
    }),
  )
  return {
    async line(prefix, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const i = lines.findIndex((l) => l.startsWith(prefix))
        if (i >= 0) return lines.splice(i, 1)[0]
        if (gone || Date.now() > deadline) throw new Error(`rate-limit-child: no "${prefix}" line (${gone ? 'it exited' : 'timed out'}); stderr: ${stderr}`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = null
      }
    },
    send: (line) => void child.stdin!.write(`${line}\n`),
    exited,
    kill: () => void child.kill('SIGKILL'),
  }
}

export async function sharedLimitAcrossProcesses(
  db: TestDatabase,
  mode: Mode,
  opts: { scenario: string; peerTable: string; vacuum: (db: TestDatabase) => Promise<void> },
): Promise<Figure[]> {
  const children = Array.from({ length: PROCS }, () => startChild(db, opts.peerTable))
  const runs = {
    ours: { admitted: [] as number[], over: [] as number[], errors: [] as number[], seconds: [] as number[] },
    peer: { admitted: [] as number[], over: [] as number[], errors: [] as number[], seconds: [] as number[] },
  }
  const failures = new Set<string>()
  try {
    await Promise.all(children.map((c) => c.line('READY')))
    for (let r = 0; r < mode.repeats; r++) {
      for (const design of ['ours', 'peer'] as const) {
        await opts.vacuum(db)
        const key = `procs-${design}-${r}`
        if (design === 'ours') await new TenantStore(db.client).upsert({ tenantId: key, rateLimits: { requestsPerHour: LIMIT }, enforcement: 'hard' })
        for (const c of children) c.send(`GO ${design} ${key} ${CALLS} ${IN_FLIGHT} ${LIMIT}`)
        const results = (await Promise.all(children.map((c) => c.line('RESULT ')))).map((l) => JSON.parse(l.slice('RESULT '.length)) as Result)
        const admitted = results.reduce((n, x) => n + x.admitted, 0)
        const errors = results.reduce((n, x) => n + Object.values(x.errors).reduce((a, b) => a + b, 0), 0)
        for (const x of results) for (const e of Object.keys(x.errors)) failures.add(`${design}: ${e}`)
        runs[design].admitted.push(admitted)
        runs[design].over.push(admitted - LIMIT)
        runs[design].errors.push(errors)
        runs[design].seconds.push(Math.max(...results.map((x) => x.ms)) / 1000)
      }
    }
  } finally {
    for (const c of children) c.send('EXIT')
    const timer = setTimeout(() => children.forEach((c) => c.kill()), 30_000)
    await Promise.all(children.map((c) => c.exited))
    clearTimeout(timer)
  }
  // Errors are neither admitted nor refused: the figures say how many, and the first few are printed.
  for (const f of [...failures].slice(0, 5)) console.log(`  [scenario 8, ${db.kind}, 4 processes] ${f}`)
  const label = `${PROCS} processes × ${CALLS} calls on one key, ${LIMIT} per hour`
  const kind = db.kind
  const figures: Figure[] = []
  for (const [design, name] of [
    ['ours', 'ours'],
    ['peer', 'rate-limiter-flexible'],
  ] as const) {
    figures.push(
      { scenario: opts.scenario, db: kind, metric: `${name}: admitted, ${label}`, unit: 'calls', runs: runs[design].admitted },
      { scenario: opts.scenario, db: kind, metric: `${name}: admitted past the limit, ${label}`, unit: 'calls', runs: runs[design].over },
      { scenario: opts.scenario, db: kind, metric: `${name}: calls failed with an error, ${label}`, unit: 'calls', runs: runs[design].errors },
      { scenario: opts.scenario, db: kind, metric: `${name}: slowest process's time, ${label}`, unit: 's', runs: runs[design].seconds },
    )
  }
  return figures
}
