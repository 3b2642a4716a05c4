#!/usr/bin/env node
// Checks the package as npm would publish it: packs dist/ (built by `npm run build`, so no
// lifecycle scripts here) and runs publint (package.json fields, exports, files) and
// @arethetypeswrong/cli (every exports path resolves to its types for ESM consumers) on the tarball.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = mkdtempSync(join(tmpdir(), 'llm-tenant-pack-'))
// Exports that are data files (the schema fragment, the DDL), not modules: attw has nothing to resolve there.
const DATA_FILES = ['./prisma/llm-tenant.prisma', './sql/sqlite.sql', './sql/postgresql.sql', './sql/postgresql-rls.sql']
const bin = (name) => join(root, 'node_modules/.bin', name)
try {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: root, encoding: 'utf8' }))
  const tarball = join(out, packed.filename)
  execFileSync(bin('publint'), ['run', tarball, '--strict'], { cwd: root, stdio: 'inherit' })
  // ESM only: the package has no CommonJS entry points, so CJS resolution is not a consumer it serves.
  execFileSync(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped', '--exclude-entrypoints', ...DATA_FILES], {
    cwd: root,
    stdio: 'inherit',
  })
} finally {
  rmSync(out, { recursive: true, force: true })
}
