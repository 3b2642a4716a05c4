/**
 * The package's command, `prisma-llm-tenant` (bin/): the dispatcher, and `generate`, which runs the
 * app's own `prisma generate` with its arguments, pointing PRISMA_SCHEMA_ENGINE_BINARY at a
 * placeholder only when no real engine is installed and the variable is unset. A fake `prisma`
 * package shows exactly what is passed; the real Prisma CLI (this repository's) generates a client
 * in an empty folder. test/package/quick-start.test.ts runs it from the installed tarball.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import pkg from '../../package.json' with { type: 'json' }
import { root } from './markdown-blocks.ts'

const bin = join(root, pkg.bin['prisma-llm-tenant'])
const PLACEHOLDER = join(root, 'bin/schema-engine-placeholder.txt')
const dirs: string[] = []

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-tenant-cli-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const base = { ...process.env }
  delete base.PRISMA_SCHEMA_ENGINE_BINARY
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env: { ...base, ...env }, encoding: 'utf8', timeout: 120_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** An app whose `prisma` CLI prints what it was given (and exits 3 for `--fail`). */
function appWithFakePrisma(options: { realEngine?: boolean } = {}): string {
  const app = tempDir()
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }))
  const prisma = join(app, 'node_modules/prisma')
  mkdirSync(join(prisma, 'build'), { recursive: true })
  writeFileSync(join(prisma, 'package.json'), JSON.stringify({ name: 'prisma', version: '7.0.0', bin: { prisma: 'build/index.js' } }))
  writeFileSync(
    join(prisma, 'build/index.js'),
    `console.log(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), engine: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? null }))
process.exit(process.argv.includes('--fail') ? 3 : 0)\n`,
  )
  if (options.realEngine) {
    const engines = join(app, 'node_modules/@prisma/engines')
    mkdirSync(engines, { recursive: true })
    writeFileSync(join(engines, 'package.json'), JSON.stringify({ name: '@prisma/engines', version: '7.0.0' }))
    writeFileSync(join(engines, 'schema-engine-debian-openssl-3.0.x'), 'a real engine')
  }
  return app
}

describe('prisma-llm-tenant (the dispatcher)', () => {
  it('lists its commands on --help, and prints its version', () => {
    const help = cli(['--help'], root)
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^Usage: prisma-llm-tenant <command> \[arguments\]$/m)
    expect(help.stdout).toMatch(/^ {2}generate {2}/m)
    expect(cli([], root).status).toBe(1) // no command: the help, as an error
    expect(cli(['--version'], root).stdout.trim()).toBe(pkg.version)
    const generateHelp = cli(['help', 'generate'], root)
    expect(generateHelp.status).toBe(0)
    expect(generateHelp.stdout).toContain('Usage: prisma-llm-tenant generate [prisma generate arguments]')
  })

  it('an unknown command exits 2 and names it', () => {
    const r = cli(['migrate'], root)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('unknown command "migrate"')
    expect(cli(['help', 'nope'], root).status).toBe(2)
  })

  it('is shipped as the package bin, with its placeholder', () => {
    expect(pkg.bin).toEqual({ 'prisma-llm-tenant': 'bin/prisma-llm-tenant.mjs' })
    expect(pkg.files).toContain('bin')
    expect(existsSync(PLACEHOLDER)).toBe(true)
  })
})

describe('prisma-llm-tenant generate', () => {
  it("runs the app's prisma generate with every argument, in the app's folder, and its exit code", () => {
    const app = appWithFakePrisma()
    const r = cli(['generate', '--schema', 'prisma/schema', '--generator', 'client', '--no-hints'], app)
    expect(r.status).toBe(0)
    const seen = JSON.parse(r.stdout)
    expect(seen.argv).toEqual(['generate', '--schema', 'prisma/schema', '--generator', 'client', '--no-hints'])
    expect(seen.cwd).toBe(app)
    expect(cli(['generate', '--fail'], app).status).toBe(3)
  })

  it('no real engine and the variable unset: PRISMA_SCHEMA_ENGINE_BINARY = the shipped placeholder, and says so', () => {
    const r = cli(['generate'], appWithFakePrisma())
    expect(JSON.parse(r.stdout).engine).toBe(PLACEHOLDER)
    expect(r.stderr).toContain('no Prisma schema engine installed')
  })

  it('a variable set by the user is used unchanged', () => {
    const app = appWithFakePrisma()
    writeFileSync(join(app, 'my-engine'), '')
    const r = cli(['generate'], app, { PRISMA_SCHEMA_ENGINE_BINARY: join(app, 'my-engine') })
    expect(JSON.parse(r.stdout).engine).toBe(join(app, 'my-engine'))
    expect(r.stderr).not.toContain('placeholder')
  })

  it('a real engine installed: Prisma runs unchanged (the variable stays unset)', () => {
    const r = cli(['generate'], appWithFakePrisma({ realEngine: true }))
    expect(JSON.parse(r.stdout).engine).toBeNull()
  })

  it('without prisma installed: exits 1 with the install command', () => {
    const app = tempDir()
    const r = cli(['generate'], app)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('npm install --save-dev prisma@7')
  })

  it('generates a client with the real Prisma CLI in an empty folder, without a schema engine', () => {
    const app = tempDir()
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'))
    mkdirSync(join(app, 'prisma/schema'), { recursive: true })
    cpSync(join(root, 'prisma/schema/llm-tenant.prisma'), join(app, 'prisma/schema/llm-tenant.prisma'))
    writeFileSync(
      join(app, 'prisma/schema/main.prisma'),
      'generator client {\n  provider = "prisma-client"\n  output   = "../../generated/prisma"\n}\n\ndatasource db {\n  provider = "sqlite"\n}\n',
    )
    const r = cli(['generate', '--schema', 'prisma/schema'], app, { CHECKPOINT_DISABLE: '1' })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).toContain('PRISMA_SCHEMA_ENGINE_BINARY set to a placeholder')
    expect(existsSync(join(app, 'generated/prisma/client.ts'))).toBe(true)
  })
})
