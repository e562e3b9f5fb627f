import { defineConfig } from 'vitest/config';

// Tests that start `sesame serve` child processes (several instances, workers, faults) spend their
// time starting processes and waiting out retries and leases; they run after the others rather
// than beside them, so the Chromium tests do not share 2 cores with a dozen booting servers.
// test/readme/ runs the README's recipes as their own processes (scripts, Apache, Python) too.
const PROCESS_TESTS = ['test/faults/**/*.test.ts', 'test/scale/**/*.test.ts', 'test/readme/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files start their own servers on ephemeral ports; running them in parallel is safe.
    fileParallelism: true,
    // Forked workers (not threads): they inherit the NODE_EXTRA_CA_CERTS that global-setup sets,
    // and Node only reads it when a process starts.
    pool: 'forks',
    // Makes the test CA and certificate (test/helpers/tls.ts) before any worker starts.
    globalSetup: ['test/global-setup.ts'],
    // Loopback only: any other connection or DNS lookup fails loudly, in the workers and in every
    // Node child they spawn (the file puts itself in NODE_OPTIONS).
    setupFiles: ['test/helpers/block-network.mjs'],
    projects: [
      { extends: true, test: { name: 'in-process', include: ['test/**/*.test.ts'], exclude: PROCESS_TESTS, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'processes', include: PROCESS_TESTS, sequence: { groupOrder: 1 } } },
    ],
  },
});
