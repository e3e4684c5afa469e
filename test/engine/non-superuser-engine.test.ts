import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalPostgresBinaries, startExternalPostgres, type ExternalPostgres } from '../support/external-postgres.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * kinesql on an external engine whose URL names a role that is no superuser (Debian's PostgreSQL 15 here):
 * the superuser-only limit on client sessions (temp_file_limit) cannot be set on their roles, and the operator
 * is told so once, not at every role kinesql creates.
 */
const installed = externalPostgresBinaries() !== undefined;

describe.skipIf(!installed && !process.env['CI'])('an external engine reached as a role that is no superuser', () => {
  let postgres: ExternalPostgres;
  let harness: Harness;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    postgres = await startExternalPostgres();
    harness = await startHarness({
      streams: [{ name: 'events', shards: 1 }],
      definitions: { 'events.json': { tableName: 'events', streamName: 'events' } },
      configure: (config) => ({ ...config, engine: { ...config.engine, url: postgres.url } }),
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
    });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await postgres?.stop();
  });

  it('logs once that client sessions run without temp_file_limit, and their sessions indeed have none', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const client = new pg.Client({ ...harness.connection, user });
      await client.connect();
      try {
        const { rows } = await client.query('show temp_file_limit');
        expect(rows).toEqual([{ temp_file_limit: '-1' }]);
      } finally {
        await client.end();
      }
    }
    const told = logs.filter((line) => String(line['msg']).startsWith('client sessions run without this limit'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ level: 40, component: 'engine', setting: 'temp_file_limit', role: 'alice' });
    expect(told[0]!['err']).toMatchObject({ message: expect.stringMatching(/permission denied/) });
  });
});
