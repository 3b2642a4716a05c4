// Prisma 7 CLI configuration for this repository's own test/example clients.
// `npm run generate` (scripts/prisma-generate.mjs) assembles one schema folder per provider from the
// shipped fragment (prisma/schema/llm-tenant.prisma) plus the test app's models, and points
// PRISMA_SCHEMA at it. Apps using the library have their own prisma.config.ts.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: process.env.PRISMA_SCHEMA ?? '.prisma-build/sqlite',
  datasource: {
    url: process.env.PRISMA_DATASOURCE_URL ?? 'file:./.tmp/dev.db',
  },
})
