import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files start their own servers on ephemeral ports; running them in parallel is safe.
    fileParallelism: true,
    pool: 'forks',
  },
});
