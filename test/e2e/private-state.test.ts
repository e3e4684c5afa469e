import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { startHarness, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

describe("what one user keeps is that user's: checkpoints, and kinesql's own state is no client's", () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({
        ...config,
        wire: { authMethod: 'scram-sha-256', users: `alice:${makeScramVerifier('wonderland')}, bob:${makeScramVerifier('builder')}` },
      }),
    });
    await harness.put('ticks', ticks(0, 10));
  });

  afterAll(async () => {
    await harness?.close();
  });

  const login = async (user: string, password: string) => {
    const client = new pg.Client({ ...harness.connection, user, password });
    await client.connect();
    return client;
  };

  /** One iteration of the Trino connector's incremental mode under logical name `nightly`: how many records it sees. */
  const iteration = async (client: pg.Client, n: number) => {
    await client.query(`SET kinesis.checkpoint_enabled = true; SET kinesis.checkpoint_logical_name = 'nightly'; SET kinesis.iteration_number = ${n}`);
    return (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;
  };

  it("a user reads only their own checkpoints, and another user's iterations under the same name do not move them", async () => {
    const alice = await login('alice', 'wonderland');
    const bob = await login('bob', 'builder');
    try {
      expect(await iteration(alice, 0)).toBe(10);
      await harness.put('ticks', ticks(100, 3));
      expect(await iteration(alice, 1)).toBe(3);

      // bob sees none of alice's checkpoints, then runs iteration 0 of the same name at the tip.
      expect((await bob.query('select * from kinesql.checkpoints')).rows).toEqual([]);
      await harness.put('ticks', ticks(200, 4));
      expect(await iteration(bob, 0)).toBe(17);

      // alice's iteration 1 still starts after her own iteration 0: the 3 records, and the 4 put since.
      expect(await iteration(alice, 1)).toBe(7);
      const owners = async (client: pg.Client) =>
        (await client.query('select distinct role_name from kinesql.checkpoints')).rows.map((row: { role_name: string }) => row.role_name);
      expect(await owners(alice)).toEqual(['alice']);
      expect(await owners(bob)).toEqual(['bob']);
    } finally {
      await alice.end();
      await bob.end();
    }
  });

  it("shows no client kinesql's private tables, the partitions, other users' names or the server's paths", async () => {
    const bob = await login('bob', 'builder');
    try {
      for (const table of ['kinesql_state.client_roles', 'kinesql_state.shard_positions', 'kinesql_state.stream_tables', 'kinesql_state.secret']) {
        expect((await bob.query(`select count(*)::int as n from ${table}`)).rows, table).toEqual([{ n: 0 }]);
      }
      const partitionsQuery = `select c.relname from pg_class c join pg_namespace s on s.oid = c.relnamespace where s.nspname in ('kinesql_partitions', 'kinesql_state')`;
      const partitions = await harness.server.engine.query(`${partitionsQuery} and s.nspname = 'kinesql_partitions' and c.relkind = 'r'`);
      expect(partitions.rows.length).toBeGreaterThan(0);
      // The catalog a client reads lists neither the partitions nor kinesql's private tables.
      expect((await bob.query(partitionsQuery)).rows).toEqual([]);
      await expect(bob.query(`select count(*) from kinesql_partitions.${partitions.rows[0]?.['relname']}`)).rejects.toMatchObject({ code: '42501' });
      const definitions = await bob.query('select source, error from kinesql.definitions');
      expect(definitions.rows).toEqual([{ source: 'ticks.json', error: null }]);
      expect(JSON.stringify(definitions.rows)).not.toContain(harness.tablesDir);
    } finally {
      await bob.end();
    }
  });

  it('answers SHOW port, however it is spelled, with the port kinesql listens on', async () => {
    const bob = await login('bob', 'builder');
    try {
      for (const statement of ['show /**/ port', 'SHOW "port"', '/* who */ Show\n PORT;']) {
        expect((await bob.query(statement)).rows, statement).toEqual([{ port: String(harness.server.port) }]);
      }
    } finally {
      await bob.end();
    }
  });
});
