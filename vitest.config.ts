import { defineConfig } from 'vitest/config'

/**
 * Tests that compare latencies measured inside one run (the runaway tenant: other tenants' p99 under
 * load vs idle) run by themselves, after the rest of the suite: with another test file hammering both
 * cores (SIGKILLed child processes, kill storms, 1,000-call property runs) a single stall of the shared
 * machine lands in one phase and not the other, and the ratio measures the neighbour, not us.
 */
const LATENCY_SENSITIVE = ['test/reliability/runaway.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: LATENCY_SENSITIVE,
          // Two cores: one worker per core keeps PostgreSQL and SQLite tests from starving each other.
          maxWorkers: 2,
          sequence: { shuffle: { files: true, tests: false }, groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'latency',
          include: LATENCY_SENSITIVE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
