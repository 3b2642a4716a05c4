/** The provider emulator's latency option: every request waits that long before it is answered. */
import { describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { ProviderEmulator } from '../../src/testing/index.ts'
import { startEmulatorProcess } from '../support/emulator-process.ts'

describe('ProviderEmulator latencyMs', () => {
  it('delays each answer by at least latencyMs, in process and in its own process', async () => {
    const inProcess = await new ProviderEmulator({ latencyMs: 80 }).start()
    const child = await startEmulatorProcess(80)
    try {
      for (const baseURL of [inProcess.openaiBaseURL, child.openaiBaseURL]) {
        const sdk = new OpenAI({ apiKey: 'sk-test-latency', baseURL, maxRetries: 0 })
        const started = performance.now()
        const answer = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] })
        expect(performance.now() - started).toBeGreaterThanOrEqual(79)
        expect(answer.choices[0].message.content).toBe('Echo: ping')
      }
    } finally {
      await inProcess.close()
      await child.close()
    }
  })
})
