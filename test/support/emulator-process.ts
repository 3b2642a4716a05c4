/**
 * A provider emulator in a child process (emulator-child.ts). Latency tests use it so that what
 * they measure is the library on the application's thread, not the emulator's HTTP handling —
 * an in-process emulator puts the provider's CPU on the same event loop as the calls it serves.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname

export interface EmulatorProcess {
  openaiBaseURL: string
  anthropicBaseURL: string
  close(): Promise<void>
}

export async function startEmulatorProcess(latencyMs: number): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/emulator-child.ts'), String(latencyMs)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /PORT (\d+)/.exec(out)
      if (m) resolve(m[1])
    })
    child.once('exit', (code) => reject(new Error(`emulator process exited (${code}) before listening`)))
  })
  return {
    openaiBaseURL: `http://127.0.0.1:${port}/v1`,
    anthropicBaseURL: `http://127.0.0.1:${port}`,
    async close() {
      child.stdin!.end()
      const killer = setTimeout(() => child.kill('SIGKILL'), 2_000)
      await exited
      clearTimeout(killer)
    },
  }
}
