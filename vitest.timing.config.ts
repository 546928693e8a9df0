import { defineConfig } from 'vitest/config';

// Timing-sensitive tests, run after the main suite with nothing else on the machine.
export default defineConfig({
  test: {
    include: ['test/**/*.timing.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
    // A shared machine can stall a process for reasons of its own (writeback of earlier tests' files);
    // a real regression fails every attempt.
    retry: 2,
  },
});
