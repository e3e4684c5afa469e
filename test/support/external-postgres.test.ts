import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { externalPostgresBinaries, startExternalPostgres } from './external-postgres.js';

const installed = externalPostgresBinaries() !== undefined;

describe('external PostgreSQL 15 for tests', () => {
  // A developer machine may lack the postgresql-15 package: skip there. CI installs it (.ci/run), so there the test
  // runs regardless and startExternalPostgres() fails loudly if the binaries are missing.
  it.skipIf(!installed && !process.env['CI'])('starts a cluster where kinesql_owner owns kinesql and may create roles, and stops it', async () => {
    const server = await startExternalPostgres();
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const shown = await client.query<{ server_version_num: string }>('show server_version_num');
        const version = Number(shown.rows[0]?.server_version_num);
        expect(version).toBeGreaterThanOrEqual(150000);
        expect(version).toBeLessThanOrEqual(159999);
        const who = await client.query<{ current_user: string; rolsuper: boolean }>('select current_user, rolsuper from pg_roles where rolname = current_user');
        expect(who.rows).toEqual([{ current_user: 'kinesql_owner', rolsuper: false }]);
        await client.query('CREATE ROLE probe_x');
        await client.query('DROP ROLE probe_x');
      } finally {
        await client.end();
      }
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
    await server.stop();
  });
});
