/**
 * The `prisma-llm-tenant` command (bin/prisma-llm-tenant.mjs runs `main`): setup (`init`,
 * `generate`, `doctor`) and operations (`usage`, `top`, `keys`, `tenants`, `refresh-counters`,
 * `release-holds`, `invoices`) against the database `DATABASE_URL` names.
 *
 * The argument parser is commander (kept, zero dependencies, typed): nested subcommands (`keys
 * create`), `choices` that reject a bad value naming the flag and the allowed values, pass-through
 * arguments for `generate`, and an exit override so this function — not commander — decides the exit
 * code: 0 ok, 1 failure, 2 bad usage (unknown command or option, missing or bad value).
 *
 * `generate [prisma generate arguments…]` is here too: it has no options of its own (not even
 * `--json` or `--help`: `generate --help` is Prisma's help; `prisma-llm-tenant help generate` is
 * this one) and runs the app's own `prisma generate` (the `prisma` package installed in the app,
 * found from the working directory) with every argument passed through unchanged. Why: Prisma 7's
 * CLI insists on having its schema-engine binary present and downloads it when it is missing,
 * although `generate` never runs it. On a machine without a route to Prisma's download host, when no
 * real engine is installed and PRISMA_SCHEMA_ENGINE_BINARY is unset, it points
 * PRISMA_SCHEMA_ENGINE_BINARY at a placeholder file (bin/schema-engine-placeholder.txt), which
 * satisfies the presence check. Where a real engine is installed, or the variable is set, Prisma runs
 * unchanged. Only `generate` is wrapped: `prisma migrate` / `db push` do run the engine.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError } from 'commander'
import { printError, type CliContext } from './command.js'
import { registerDoctor, registerMaintenance } from './doctor.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, safeText } from './errors.js'
import { registerInit } from './init.js'
import { registerInvoices } from './invoices.js'
import { processIo, type Io } from './io.js'
import { registerKeys } from './keys.js'
import { registerTenants } from './tenants.js'
import { registerUsage } from './usage.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/** The placeholder the package ships (bin/ is in the package's `files`). */
const PLACEHOLDER = fileURLToPath(new URL('../../bin/schema-engine-placeholder.txt', import.meta.url))

/** The app's `prisma` CLI entry (resolved from `cwd` as Node resolves packages), or undefined. */
function findPrismaCli(cwd: string): string | undefined {
  let pkgJson: string
  try {
    pkgJson = createRequire(join(cwd, 'package.json')).resolve('prisma/package.json')
  } catch {
    return undefined
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { bin?: string | Record<string, string> }
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.prisma
  return bin ? join(dirname(pkgJson), bin) : undefined
}

/** A real schema engine installed next to the CLI (where Prisma's postinstall downloads it), or undefined. */
function findRealSchemaEngine(prismaCli: string): string | undefined {
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

/** Runs the app's `prisma generate` with `args`; resolves to its exit code. */
function runGenerate(args: readonly string[], io: Io): number {
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
}

/** Registers `generate`: every argument after it goes to Prisma untouched. */
function registerGenerate(program: Command, io: Io, done: (code: number) => void): void {
  program
    .command('generate')
    .summary("Run your project's `prisma generate`, also where Prisma's schema engine cannot be downloaded")
    .description(
      [
        "Runs this project's own `prisma generate` (the `prisma` package installed here) with every argument passed through, e.g. `prisma-llm-tenant generate --schema prisma/schema`.",
        'When no Prisma schema engine is installed and PRISMA_SCHEMA_ENGINE_BINARY is unset, it points PRISMA_SCHEMA_ENGINE_BINARY at a placeholder file: `generate` never runs the engine, but the Prisma CLI would otherwise try to download it.',
        "Exits with prisma generate's exit code.",
      ].join('\n'),
    )
    .usage('[prisma generate arguments]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[arguments...]')
    .action((_args: string[], _options: unknown, command: Command) => {
      done(runGenerate(command.args, io))
    })
}

/** Commander's own exits that are not errors. */
const INFORMATIONAL = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help'])

function buildProgram(ctx: CliContext): Command {
  const program = new Command('prisma-llm-tenant')
  program
    .usage('<command> [arguments]')
    .description(
      `prisma-llm-tenant ${pkg.version}: set up and operate the LLM tenant tables of your Prisma app.\nDatabase commands read DATABASE_URL (file:… = SQLite, postgres(ql)://… = PostgreSQL; ?schema= selects a PostgreSQL schema).`,
    )
    .version(pkg.version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help (also: prisma-llm-tenant help <command>)')
    .helpCommand('help [command]', "show a command's help")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr, outputError: () => undefined })
    .configureHelp({ subcommandTerm: (command) => command.name(), helpWidth: Math.max(100, process.stdout.columns ?? 0) })
    .showSuggestionAfterError(true)
  registerGenerate(program, ctx.io, ctx.exit)
  registerInit(program, ctx)
  registerDoctor(program, ctx)
  registerUsage(program, ctx)
  registerKeys(program, ctx)
  registerTenants(program, ctx)
  registerMaintenance(program, ctx)
  registerInvoices(program, ctx)
  return program
}

/** Commander's message, as ours: double quotes, no "error:" prefix, secrets redacted. */
function usageMessage(err: CommanderError): string {
  return safeText(err.message.replace(/^error: /, '').replace(/'([^']*)'/g, '"$1"'))
}

/** Runs the command line `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let code = EXIT_OK
  const ctx: CliContext = { io, exit: (c) => (code = c) }
  const program = buildProgram(ctx)
  const json = argv.includes('--json')
  if (argv[0] === 'help' && argv[1] !== undefined && !program.commands.some((c) => c.name() === argv[1])) {
    io.stderr(`prisma-llm-tenant: unknown command "${safeText(argv[1])}"\n\n${program.helpInformation()}`)
    return EXIT_USAGE
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return code
  } catch (err) {
    if (!(err instanceof CommanderError)) {
      printError(io, '', { exitCode: EXIT_FAILURE, kind: 'failure', message: safeText(String((err as Error)?.message ?? err)) }, json)
      return EXIT_FAILURE
    }
    if (INFORMATIONAL.has(err.code)) {
      // No command at all: the help, as an error (1). A command group without its subcommand
      // (`keys`): bad usage (2). Asked-for help and --version: 0.
      if (err.exitCode === 0) return EXIT_OK
      return argv.length === 0 ? EXIT_FAILURE : EXIT_USAGE
    }
    const message = usageMessage(err)
    if (json) io.stderr(`${JSON.stringify({ error: { kind: 'usage', message, exitCode: EXIT_USAGE } })}\n`)
    else if (err.code === 'commander.unknownCommand') io.stderr(`prisma-llm-tenant: ${message}\n\n${program.helpInformation()}`)
    else io.stderr(`prisma-llm-tenant: ${message}\n(add --help to the command for its usage)\n`)
    return EXIT_USAGE
  }
}
