/**
 * Child side of emulator-process.ts: a ProviderEmulator in its own process, as a real provider is
 * (its CPU is not the application's). Usage: node --import tsx emulator-child.ts <latencyMs>.
 * Prints `PORT <n>` once listening; exits when stdin closes (the parent went away).
 */
import { ProviderEmulator } from '../../src/testing/index.ts'

const emulator = await new ProviderEmulator({ latencyMs: Number(process.argv[2] ?? 0) }).start()
// Keep no request log: a long run would grow it without bound.
setInterval(() => void emulator.requests.splice(0), 1_000).unref()
process.stdout.write(`PORT ${new URL(emulator.anthropicBaseURL).port}\n`)
process.stdin.resume()
process.stdin.on('end', () => void emulator.close().then(() => process.exit(0)))
