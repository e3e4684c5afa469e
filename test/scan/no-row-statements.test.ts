import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, RawClient } from '../support/raw-client.js';
import { FaultProxy } from './fault-proxy.js';

const definition = { tableName: 'events', streamName: 'events', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

/**
 * Strict sessions and no follower: every statement that may read the table reads each shard's new tail
 * (GetRecords at the stand-in); one that can show nothing of the table's rows must not read at all.
 */
describe('statements that read no stream rows', () => {
  const proxy = new FaultProxy();
  let harness: Harness;

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'events', shards: 2 }],
      definitions: { 'events.json': definition },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint } };
      },
    });
    await harness.put(
      'events',
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    const client = await harness.connect();
    try {
      // The first load, and the shard listing, before anything is counted.
      expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: 20 }]);
    } finally {
      await client.end();
    }
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  const readsOf = async (run: () => Promise<unknown>): Promise<number> => {
    proxy.reset();
    await run();
    return proxy.count('GetRecords');
  };

  it('answers catalog queries, LIMIT 0, constant-false WHERE, EXPLAIN and pruned bounds without a Kinesis read', async () => {
    const client = await harness.connect();
    try {
      const noRead = [
        `select column_name from information_schema.columns where table_name = 'events' order by ordinal_position limit 1`,
        'select * from events limit 0',
        'select n from events where false',
        'select count(*)::int as n from events where 1 <> 1',
        `SELECT TRUE AS "_" FROM "public"."events" WHERE 1 <> 1 LIMIT 0`,
        'select * from events where null',
        'select * from (select n from events limit 0) as probe',
        'explain select * from events',
        'explain (analyze false) select count(*) from events',
        `select * from events where _shard_id = 'shardId-000000000099'`,
        'prepare probe as select * from events',
        'deallocate probe',
      ];
      for (const sql of noRead) {
        expect(await readsOf(() => client.query(sql)), sql).toBe(0);
      }
      // Each of them answered as PostgreSQL would over that table.
      expect((await client.query('select count(*)::int as n from events where 1 <> 1')).rows).toEqual([{ n: 0 }]);
      expect((await client.query('select * from events limit 0')).fields.map((field) => field.name)).toContain('n');

      // What may show the table's rows still reads it: the test above can fail.
      const reading = [
        'select count(*)::int as n from events',
        'explain analyze select count(*) from events',
        'select n from events where false union all select n from events limit 5',
        'select (select count(*) from events) as n where 1 = 1',
      ];
      for (const sql of reading) {
        expect(await readsOf(() => client.query(sql)), sql).toBeGreaterThan(0);
      }
    } finally {
      await client.end();
    }
  });

  it('answers Parse and Describe without a read; the Bind and Execute that run the statement read, after a Sync or a Flush', async () => {
    const client = await RawClient.startup(harness.server.port, { user: 'tester' });
    try {
      const described = await readsOf(async () => {
        client.write(serialize.parse({ name: 'count_events', text: 'select count(*)::int as n from events', types: [] }));
        client.write(serialize.describe({ type: 'S', name: 'count_events' }));
        client.write(serialize.sync());
        const messages = await client.readUntilReady();
        expect(messages.map((message) => message.type)).toEqual(['1', 't', 'T', 'Z']);
      });
      expect(described).toBe(0);
      const executed = await readsOf(async () => {
        client.write(serialize.bind({ statement: 'count_events' }));
        client.write(serialize.execute({}));
        client.write(serialize.sync());
        const messages = await client.readUntilReady();
        expect(messages.map((message) => message.type)).toEqual(['2', 'D', 'C', 'Z']);
      });
      expect(executed).toBeGreaterThan(0);

      // asyncpg's way: Parse, Describe and Flush, then Bind, Execute and Sync. The first batch reads nothing;
      // the second catches up although no Sync came between them, and shows the records put since.
      await harness.put('events', [{ n: 20 }]);
      const flushed = await readsOf(async () => {
        client.write(
          Buffer.concat([
            serialize.parse({ name: 'flushed', text: 'select count(*)::int as n from events', types: [] }),
            serialize.describe({ type: 'S', name: 'flushed' }),
            serialize.flush(),
          ]),
        );
        expect((await client.read(3)).map((message) => message.type)).toEqual(['1', 't', 'T']);
      });
      expect(flushed).toBe(0);
      const afterFlush = await readsOf(async () => {
        client.write(Buffer.concat([serialize.bind({ statement: 'flushed' }), serialize.execute({}), serialize.sync()]));
        const messages = await client.readUntilReady();
        expect(messages.map((message) => message.type)).toEqual(['2', 'D', 'C', 'Z']);
        expect(dataRow(messages[1]!.body)).toEqual(['21']);
      });
      expect(afterFlush).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });
});
