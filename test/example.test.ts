import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname

it('the example runs an agent for two tenants offline: own keys, usage, a soft event (once), a BudgetExceededError', () => {
  const env = { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' }
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), ['examples/two-tenants.ts'], { cwd: root, encoding: 'utf8', env })
  expect(out).toMatch(/offline provider: the bundled emulator at http:\/\/127\.0\.0\.1:\d+/)
  expect(out.match(/own key\)/g)).toHaveLength(5)
  expect(out).not.toContain('OTHER KEY')
  expect(out.match(/soft_limit_reached — tenant acme dailyCost/g)).toHaveLength(1)
  expect(out).toMatch(/refused before the provider: Budget exceeded: tenant "globex" dailyExecutions limit 2/)
  expect(out).toMatch(/^acme: \$0\.000028650 · 116 tokens · 3 executions/m)
  expect(out).toMatch(/^globex: \$0\.000020100 · 80 tokens · 2 executions/m)
  expect(out).toMatch(/^top spender: acme/m)
  expect(out).not.toContain('sk-acme-demo-key')
}, 60_000)
