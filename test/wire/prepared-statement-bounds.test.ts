import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, RawClient, types } from '../support/raw-client.js';
import { FaultProxy } from '../scan/fault-proxy.js';

const definition = { tableName: 'keyed', streamName: 'keyed', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

const KEYS = Array.from({ length: 12 }, (_, i) => `user-${i}`);

/**
 * A prepared statement reads what its own text would: the shard its `_partition_key` hashes to, whether it
 * runs by SQL EXECUTE or by a protocol Bind, prepared by SQL PREPARE or by a protocol Parse, in a turn after
 * the one that prepared it. Strict sessions and no follower: a statement that lost its bounds reads every
 * shard's new tail (GetRecords on all four shards at the stand-in).
 */
describe('the scan bounds of a prepared statement', () => {
  const proxy = new FaultProxy();
  let harness: Harness;
  let client: RawClient;

  /** What `run` answered, and the shards the stand-in answered GetRecords for while it ran. */
  const reading = async (run: () => Promise<unknown>): Promise<{ answer: unknown; shards: Set<string> }> => {
    proxy.reset();
    const answer = await run();
    const shards = new Set(proxy.calls.filter((call) => call.operation === 'GetRecords' && call.fault === undefined).map((call) => call.shardId!));
    return { answer, shards };
  };

  /** A simple Query's single value. */
  const query = async (sql: string): Promise<string | null | undefined> => {
    client.write(serialize.query(sql));
    const messages = await client.readUntilReady();
    expect(messages.filter((message) => message.type === 'E')).toEqual([]);
    const row = messages.find((message) => message.type === 'D');
    return row ? dataRow(row.body)[0] : undefined;
  };

  /** Binds a prepared statement and executes it, in a turn of its own; its single value. */
  const bindAndExecute = async (statement: string): Promise<string | null | undefined> => {
    client.write(Buffer.concat([serialize.bind({ statement }), serialize.execute({}), serialize.sync()]));
    const messages = await client.readUntilReady();
    expect(types(messages)).toBe('2DCZ');
    return dataRow(messages[1]!.body)[0];
  };

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'keyed', shards: 4 }],
      definitions: { 'keyed.json': definition },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint } };
      },
    });
    await harness.put(
      'keyed',
      Array.from({ length: 240 }, (_, i) => ({ data: JSON.stringify({ n: i }), partitionKey: KEYS[i % KEYS.length]! })),
    );
    client = await RawClient.startup(harness.server.port, { user: 'tester' });
  });

  afterAll(async () => {
    client?.close();
    await harness?.close();
    await proxy.close();
  });

  it('survives SQL PREPARE and EXECUTE, and a Bind of the statement SQL prepared', async () => {
    const statement = `select count(*)::int as n from keyed where _partition_key = 'user-3'`;
    const direct = await reading(() => query(statement));
    expect(direct.answer).toBe('20');
    expect(direct.shards.size).toBe(1);

    expect(await reading(() => query(`prepare by_key as ${statement}`))).toEqual({ answer: undefined, shards: new Set() });
    expect(await reading(() => query('execute by_key'))).toEqual(direct);
    expect(await reading(() => bindAndExecute('by_key'))).toEqual(direct);

    // Without the bound every shard is read: what the checks above tell apart.
    expect((await reading(() => query('select count(*)::int as n from keyed'))).shards.size).toBe(4);
  });

  it('survives a protocol Parse and a Bind in a later turn, and an EXECUTE of the statement it parsed', async () => {
    const statement = `select count(*)::int as n from keyed where _partition_key = 'user-5'`;
    const direct = await reading(() => query(statement));
    expect(direct.answer).toBe('20');
    expect(direct.shards.size).toBe(1);

    const parse = async () => {
      client.write(Buffer.concat([serialize.parse({ name: 'parsed_by_key', text: statement, types: [] }), serialize.sync()]));
      return types(await client.readUntilReady());
    };
    expect(await reading(parse)).toEqual({ answer: '1Z', shards: new Set() });
    expect(await reading(() => bindAndExecute('parsed_by_key'))).toEqual(direct);
    expect(await reading(() => query('execute parsed_by_key'))).toEqual(direct);
  });
});
