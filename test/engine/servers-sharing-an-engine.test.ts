import pg from 'pg';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { engineUrlOf } from '../support/child-server.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

async function query(server: RunningKinesql, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ host: server.host, port: server.port, user: 'tester', database: 'kinesql' });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const COUNTS = 'select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as distinct_records from ticks';

describe('two kinesql servers on one engine', () => {
  let harness: Harness;
  let second: RunningKinesql;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 3 }], definitions: { 'ticks.json': definition } });
    // The second server reaches the first one's embedded engine by URL, as servers share an external engine.
    const url = engineUrlOf(harness.server.engine.endpoint);
    second = await startKinesql({ ...harness.config, engine: { ...harness.config.engine, url } }, testLogger);
  });

  afterAll(async () => {
    await second?.close();
    await harness?.close();
  });

  it('share what either loaded: every record once, and no record read again by the other', async () => {
    await harness.put('ticks', ticks(0, 100));
    expect(await query(harness.server, COUNTS)).toEqual([{ n: 100, distinct_records: 100 }]);
    expect(await query(second, COUNTS)).toEqual([{ n: 100, distinct_records: 100 }]);
    // The second server went on from the first one's positions.
    expect(await query(second, 'select coalesce(sum(records_read), 0)::int as read from kinesql.shards')).toEqual([{ read: 0 }]);

    await harness.put('ticks', ticks(100, 50));
    expect(await query(second, COUNTS)).toEqual([{ n: 150, distinct_records: 150 }]);
    expect(await query(harness.server, COUNTS)).toEqual([{ n: 150, distinct_records: 150 }]);

    // Both catching up the same new records at the same moment still load each of them once.
    for (let round = 0; round < 5; round++) {
      await harness.put('ticks', ticks(150 + round * 40, 40));
      const answers = await Promise.all([query(harness.server, COUNTS), query(second, COUNTS), query(harness.server, COUNTS), query(second, COUNTS)]);
      for (const [row] of answers) expect(row).toEqual({ n: 190 + round * 40, distinct_records: 190 + round * 40 });
    }
  });

  it('apply a changed definition once between them, and both serve it with every record once', async () => {
    const next = {
      ...definition,
      message: { ...definition.message, fields: [...definition.message.fields, { name: 'doubled', type: 'INTEGER', mapping: 'n' }] },
    };
    await writeFile(join(harness.tablesDir, 'ticks.json'), JSON.stringify(next));
    for (const server of [harness.server, second]) {
      await vi.waitFor(async () => expect(await query(server, 'select count(doubled)::int as n from ticks')).toEqual([{ n: 350 }]), {
        timeout: 30_000,
        interval: 200,
      });
    }
    await harness.put('ticks', ticks(350, 10));
    expect(await query(second, COUNTS)).toEqual([{ n: 360, distinct_records: 360 }]);
    expect(await query(harness.server, COUNTS)).toEqual([{ n: 360, distinct_records: 360 }]);
  });
});
