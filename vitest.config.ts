import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: one worker per core keeps PostgreSQL and SQLite tests from starving each other.
    maxWorkers: 2,
    sequence: { shuffle: { files: true, tests: false } },
  },
})
