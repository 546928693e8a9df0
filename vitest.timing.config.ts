import { defineConfig } from 'vitest/config';

// Timing-sensitive tests, run after the main suite with nothing else on the machine.
export default defineConfig({
  test: {
    include: ['test/**/*.timing.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
