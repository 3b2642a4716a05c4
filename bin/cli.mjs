/**
 * The dispatcher of the `prisma-llm-tenant` command: `prisma-llm-tenant <command> [args…]`.
 *
 * Every subcommand is a module in ./commands/ exporting
 *   { name, summary, usage, run(args, io) → exit code (or a promise of one) }
 * and is listed in COMMANDS below; the dispatcher owns `--help` / `help [command]` / `--version`
 * and unknown commands. A command gets its arguments unparsed: `generate` hands them to
 * `prisma generate` as they are; commands with options of their own parse them with
 * node:util's parseArgs (see parseCommandArgs).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import generate from './commands/generate.mjs'

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS = [generate]

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

/** What a command writes to and reads from; tests pass their own. */
export function defaultIo() {
  return {
    cwd: process.cwd(),
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }
}

function help() {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    `prisma-llm-tenant ${pkg.version}`,
    '',
    'Usage: prisma-llm-tenant <command> [arguments]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  Show this help, or a command's: prisma-llm-tenant help <command>`,
    '',
    'Options: -h, --help   -v, --version',
    '',
  ].join('\n')
}

/**
 * Parses a command's own options (strict: an unknown option is an error) — for commands that take
 * options of their own, unlike `generate`, which passes everything to Prisma.
 */
export function parseCommandArgs(args, options) {
  return parseArgs({ args, options, allowPositionals: true, strict: true })
}

/** Runs the command line `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv, io = defaultIo()) {
  const [first, ...rest] = argv
  if (first === undefined || first === '-h' || first === '--help') {
    io.stdout(help())
    return first === undefined ? 1 : 0
  }
  if (first === '-v' || first === '--version') {
    io.stdout(`${pkg.version}\n`)
    return 0
  }
  if (first === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0])
    if (rest[0] !== undefined && !command) {
      io.stderr(`prisma-llm-tenant: unknown command "${rest[0]}"\n\n${help()}`)
      return 2
    }
    io.stdout(command ? `${command.usage}\n` : help())
    return 0
  }
  const command = COMMANDS.find((c) => c.name === first)
  if (!command) {
    io.stderr(`prisma-llm-tenant: unknown command "${first}"\n\n${help()}`)
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    io.stderr(`prisma-llm-tenant ${command.name}: ${err?.message ?? err}\n`)
    return 1
  }
}
