import { defineConfig } from 'vitest/config';

/**
 * The chaos run (test/chaos/short.test.ts) runs alone, after everything else, so that its
 * replicas, sandboxes and Postgres do not compete for the CPU with other test files:
 * `npm test` runs vitest twice, the second time with HOOKWARDEN_CHAOS=1.
 */
const chaos = process.env.HOOKWARDEN_CHAOS === '1';
const CHAOS_FILE = 'test/chaos/short.test.ts';

export default defineConfig({
  test: {
    include: chaos ? [CHAOS_FILE] : ['test/**/*.test.ts'],
    exclude: chaos ? [] : [CHAOS_FILE, '**/node_modules/**'],
    pool: 'forks',
    globalSetup: chaos ? [] : ['test/fixtures/global-setup.ts'],
    setupFiles: ['test/fixtures/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // CI counts from the JSON reports (.ci/run); people read the default one.
    reporters: process.env.CI ? ['default', ['json', { outputFile: chaos ? '.test-results-chaos.json' : '.test-results.json' }]] : ['default'],
  },
});
