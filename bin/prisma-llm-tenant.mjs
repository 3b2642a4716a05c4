#!/usr/bin/env node
// The `prisma-llm-tenant` command. One file per subcommand in ./commands/; this file only
// dispatches (see ./cli.mjs).
import { main } from './cli.mjs'

process.exitCode = await main(process.argv.slice(2))
