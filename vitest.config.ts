import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files start their own servers on ephemeral ports; running them in parallel is safe.
    fileParallelism: true,
    // Forked workers (not threads): they inherit the NODE_EXTRA_CA_CERTS that global-setup sets,
    // and Node only reads it when a process starts.
    pool: 'forks',
    // Makes the test CA and certificate (test/helpers/tls.ts) before any worker starts.
    globalSetup: ['test/global-setup.ts'],
  },
});
