import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname

it('the example prints a usage summary for two tenants, offline, without API keys', () => {
  const env = { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' }
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), ['examples/two-tenants.ts'], { cwd: root, encoding: 'utf8', env })
  expect(out).toMatch(/^acme: \$0\.000455300 · 466 tokens · 3 executions \(this_month, Europe\/Berlin\)$/m)
  expect(out).toMatch(/^globex: \$0\.000346300 · 261 tokens · 2 executions/m)
  expect(out).toMatch(/^top spender: acme/m)
}, 60_000)
