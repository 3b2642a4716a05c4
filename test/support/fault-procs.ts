/**
 * Parent side of test/support/fault-worker.ts: spawns `node --import tsx fault-worker.ts …`, reads
 * its stdout line by line, and lets a test wait for lines (`ADMITTED <id>` …), send GO, kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { WorkerOptions } from './fault-worker.ts'

const root = new URL('../..', import.meta.url).pathname

export interface Worker {
  child: ChildProcess
  lines: string[]
  /** Resolves when `count` lines starting with `prefix` have been printed (rejects if the child exits first). */
  waitFor(prefix: string, count?: number, timeoutMs?: number): Promise<string[]>
  /** Resolves with the exit code / signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr(): string
}

export function startWorker(mode: 'hold' | 'churn' | 'load', kind: string, location: string, tenant: string, options: WorkerOptions = {}): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test/support/fault-worker.ts'), mode, kind, location, tenant, JSON.stringify(options)],
    {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: process.env,
    },
  )
  const lines: string[] = []
  let err = ''
  let buffer = ''
  const waiters = new Set<() => void>()
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      resolve({ code, signal })
      for (const w of waiters) w()
    }),
  )
  let done = false
  void exited.then(() => (done = true))
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop() ?? ''
    lines.push(...parts.filter((l) => l !== ''))
    for (const w of waiters) w()
  })
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const waitFor = (prefix: string, count = 1, timeoutMs = 60_000) =>
    new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(
            new Error(`timed out waiting for ${count} × "${prefix}" (got ${lines.filter((l) => l.startsWith(prefix)).length}); stderr: ${err.slice(-2000)}`),
          ),
        timeoutMs,
      )
      const check = () => {
        const hits = lines.filter((l) => l.startsWith(prefix))
        if (hits.length >= count) finish(null, hits)
        else if (done) finish(new Error(`worker exited before ${count} × "${prefix}" (got ${hits.length}); stderr: ${err.slice(-2000)}`))
      }
      const finish = (e: Error | null, hits?: string[]) => {
        clearTimeout(timer)
        waiters.delete(check)
        if (e) reject(e)
        else resolve(hits!)
      }
      waiters.add(check)
      check()
    })
  return { child, lines, waitFor, exited, stderr: () => err }
}

/** The ids of `ADMITTED <id>` / `DONE <id>` … lines. */
export const idsOf = (lines: string[], prefix: string) => lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1).trim())
