import { existsSync } from 'node:fs';
import { configDefaults, defineConfig } from 'vitest/config';

// scripts/ensure-citus.sh (run by `npm test`) builds Citus from the vendored source; without it the project is left out.
const citusInstalled = existsSync('/usr/lib/postgresql/15/lib/citus.so');
if (!citusInstalled) console.log('citus-engine: skipped, Citus is not installed in PostgreSQL 15 and scripts/ensure-citus.sh found no source to build it');
const citusOnly = 'test/engine/citus-*.test.ts';
const onCitus = ['test/clients/**/*.test.ts', 'test/e2e/isolated-sessions.test.ts', citusOnly];
// Tests that compare latencies under an attack with the same client's latencies without it: run after every other
// file, alone, so that two test files sharing the 2 cores do not decide the comparison.
const alone = ['test/wire/parse-isolation.test.ts'];

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
      { test: { ...shared, name: 'embedded-engine', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, citusOnly, ...alone] } },
      { test: { ...shared, name: 'alone', include: alone, sequence: { groupOrder: 1 } } },
      {
        // The real-client suite once more, on Debian's PostgreSQL 15 as an external engine (kinesql.engine-url).
        test: {
          ...shared,
          name: 'external-engine',
          include: ['test/clients/**/*.test.ts', 'test/e2e/isolated-sessions.test.ts'],
          env: { ...shared.env, KINESQL_TEST_ENGINE: 'external' },
        },
      },
      ...(citusInstalled
        ? [
            {
              // The same again on a Citus coordinator and two workers, stream tables distributed, plus the Citus-only tests.
              // Not client encodings other than UTF8: rows computed on the workers reach such a client in UTF8 (docs/scaling.md).
              test: {
                ...shared,
                name: 'citus-engine',
                include: onCitus,
                exclude: [...configDefaults.exclude, 'test/clients/client-encoding.test.ts'],
                env: { ...shared.env, KINESQL_TEST_ENGINE: 'citus' },
              },
            },
          ]
        : []),
    ],
  },
});
