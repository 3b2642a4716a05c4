#!/usr/bin/env node
// The `prisma-llm-tenant` command: the compiled src/cli/main.ts (one module per command there).
let main
try {
  ;({ main } = await import('../dist/cli/main.js'))
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/main.js')) throw err
  process.stderr.write('prisma-llm-tenant: the package is not built (dist/cli/main.js is missing); in its repository run `npm run build`\n')
  process.exit(1)
}
process.exitCode = await main(process.argv.slice(2))
