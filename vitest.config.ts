import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
};

export default defineConfig({
  test: {
    // Each end-to-end file starts its own engine (a PostgreSQL server); two at a time fit the 2-core machines.
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { test: { ...shared, name: 'embedded-engine', include: ['test/**/*.test.ts'] } },
      {
        // The real-client suite once more, on Debian's PostgreSQL 15 as an external engine (kinesql.engine-url).
        test: {
          ...shared,
          name: 'external-engine',
          include: ['test/clients/**/*.test.ts', 'test/e2e/isolated-sessions.test.ts'],
          env: { ...shared.env, KINESQL_TEST_ENGINE: 'external' },
        },
      },
    ],
  },
});
