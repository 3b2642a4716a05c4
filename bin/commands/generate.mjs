/**
 * `prisma-llm-tenant generate [prisma generate arguments…]`: runs the app's own `prisma generate`
 * (the `prisma` package installed in the app, found from the working directory) with every argument
 * passed through unchanged (`--schema prisma/schema`, `--generator client`, …).
 *
 * Why: Prisma 7's CLI insists on having its schema-engine binary present and downloads it when it is
 * missing, although `generate` never runs it. On a machine without a route to Prisma's download
 * host, when no real engine is installed and PRISMA_SCHEMA_ENGINE_BINARY is unset, this points
 * PRISMA_SCHEMA_ENGINE_BINARY at a placeholder file (bin/schema-engine-placeholder.txt), which
 * satisfies the presence check. Where a real engine is installed, or the variable is set, Prisma
 * runs unchanged. Only `generate` is wrapped: `prisma migrate` / `db push` do run the engine.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PLACEHOLDER = fileURLToPath(new URL('../schema-engine-placeholder.txt', import.meta.url))

/** The app's `prisma` CLI entry (resolved from `cwd` as Node resolves packages), or undefined. */
export function findPrismaCli(cwd) {
  let pkgJson
  try {
    pkgJson = createRequire(join(cwd, 'package.json')).resolve('prisma/package.json')
  } catch {
    return undefined
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'))
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.prisma
  return bin ? join(dirname(pkgJson), bin) : undefined
}

/** A real schema engine installed next to the CLI (where Prisma's postinstall downloads it), or undefined. */
export function findRealSchemaEngine(prismaCli) {
  const prismaDir = dirname(dirname(prismaCli))
  const dirs = [prismaDir]
  try {
    dirs.push(dirname(createRequire(join(prismaDir, 'package.json')).resolve('@prisma/engines/package.json')))
  } catch {
    // no separate @prisma/engines package: only the CLI's own folder
  }
  for (const dir of dirs) {
    if (!existsSync(dir)) continue
    const engine = readdirSync(dir).find((f) => f.startsWith('schema-engine-'))
    if (engine) return join(dir, engine)
  }
  return undefined
}

export default {
  name: 'generate',
  summary: "Run your project's `prisma generate`, also where Prisma's schema engine cannot be downloaded",
  usage: [
    'Usage: prisma-llm-tenant generate [prisma generate arguments]',
    '',
    "Runs this project's own `prisma generate` (the `prisma` package installed here) with every",
    'argument passed through, e.g. `prisma-llm-tenant generate --schema prisma/schema`.',
    'When no Prisma schema engine is installed and PRISMA_SCHEMA_ENGINE_BINARY is unset, it points',
    'PRISMA_SCHEMA_ENGINE_BINARY at a placeholder file: `generate` never runs the engine, but the',
    "Prisma CLI would otherwise try to download it. Exits with prisma generate's exit code.",
  ].join('\n'),
  run(args, io) {
    const cli = findPrismaCli(io.cwd)
    if (!cli) {
      io.stderr('prisma-llm-tenant generate: the `prisma` CLI is not installed in this project; run `npm install --save-dev prisma@7`\n')
      return 1
    }
    const env = { ...io.env }
    if (!env.PRISMA_SCHEMA_ENGINE_BINARY && !findRealSchemaEngine(cli)) {
      env.PRISMA_SCHEMA_ENGINE_BINARY = PLACEHOLDER
      io.stderr('prisma-llm-tenant generate: no Prisma schema engine installed; generating without it (PRISMA_SCHEMA_ENGINE_BINARY set to a placeholder)\n')
    }
    const result = spawnSync(process.execPath, [cli, 'generate', ...args], { cwd: io.cwd, env, stdio: 'inherit' })
    if (result.error) throw result.error
    return result.status ?? 1
  },
}
