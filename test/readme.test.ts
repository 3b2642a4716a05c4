/**
 * Keeps README.md true: every fenced code block is executed.
 * - `ts` blocks run as programs with tsx, from the repository root (imports resolve as written);
 * - `sh` blocks run in bash: `npm install` / `npm test` are the commands CI itself runs (executing
 *   them here would recurse), so for those we check the script exists; everything else runs, and
 *   user-side commands (`cp node_modules/prisma-llm-tenant/...`) run inside a scratch app folder
 *   whose node_modules links to this package.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }

const root = new URL('..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m, i) => ({ i, lang: m[1], code: m[2] }))
const tsx = join(root, 'node_modules/.bin/tsx')

describe('README.md code blocks', () => {
  it('has ts and sh blocks', () => {
    expect(blocks.some((b) => b.lang === 'ts')).toBe(true)
    expect(blocks.some((b) => b.lang === 'sh')).toBe(true)
    expect(blocks.every((b) => ['ts', 'sh'].includes(b.lang))).toBe(true)
  })

  it.each(blocks.filter((b) => b.lang === 'ts').map((b) => [b.i, b.code] as const))('ts block #%i runs', (i, code) => {
    const file = join(root, `.readme-block-${i}.ts`)
    mkdirSync(join(root, '.tmp'), { recursive: true })
    rmSync(join(root, '.tmp/readme.db'), { force: true })
    writeFileSync(file, code)
    try {
      const out = execFileSync(tsx, [file], { cwd: root, encoding: 'utf8', timeout: 60_000 })
      expect(out.length).toBeGreaterThan(0)
      expect(out).not.toContain('sk-never-stored')
      // What the README's comments promise the llmTenant() block prints:
      if (code.includes('llmTenant(')) {
        expect(out).toContain('answered with a tenant key 0.00036')
        expect(out).toMatch(/tenant "acme" dailyExecutions limit 2 would be exceeded/)
        expect(out).toMatch(/limit: 2,\s+used: 2,\s+reserved: 0,\s+remaining: 0,\s+percentage: 100/)
        expect(out).not.toContain('never runs')
      }
      if (code.includes('createLlmRuntime(')) {
        expect(out).toContain('key used: true')
        expect(out).toMatch(/streamed cost: 0\.\d+/)
      }
    } finally {
      rmSync(file, { force: true })
      rmSync(join(root, '.tmp/readme.db'), { force: true })
    }
  }, 90_000)

  it.each(blocks.filter((b) => b.lang === 'sh').map((b) => [b.i, b.code] as const))('sh block #%i runs', (_i, code) => {
    for (const line of code.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const npm = /^(?:[A-Z_]+=\S+ )*npm (install|test|run (\S+))$/.exec(line)
      if (npm) {
        const script = npm[1] === 'install' ? 'prepare' : npm[1] === 'test' ? 'test' : npm[2]
        expect(pkg.scripts, line).toHaveProperty(script)
        if (npm[1] === 'install' || npm[1] === 'test' || line.includes('TEST_POSTGRES_URL')) continue
        const out = execFileSync('bash', ['-c', line], { cwd: root, encoding: 'utf8', timeout: 120_000 })
        expect(out.length).toBeGreaterThan(0)
        continue
      }
      // A user-side command: run it in a scratch app that has this package installed.
      const app = mkdtempSync(join(tmpdir(), 'readme-app-'))
      try {
        mkdirSync(join(app, 'node_modules'), { recursive: true })
        mkdirSync(join(app, 'prisma/schema'), { recursive: true })
        symlinkSync(root, join(app, 'node_modules/prisma-llm-tenant'))
        execFileSync('bash', ['-ec', line], { cwd: app, encoding: 'utf8' })
        expect(existsSync(join(app, 'prisma/schema/llm-tenant.prisma'))).toBe(true)
      } finally {
        rmSync(app, { recursive: true, force: true })
      }
    }
  }, 180_000)
})
