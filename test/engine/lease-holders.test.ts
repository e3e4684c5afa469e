import { hostname } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { engineUrlOf } from '../support/child-server.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';
import { parseMetrics } from '../support/prometheus-text.js';

/**
 * Three kinesql servers on one engine divide a table's shards by leases: what an operator sees of that, in
 * `kinesql.shards` (over a client connection, as a plain user) and in each server's /metrics.
 */
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const SHARDS = 3;
const LEASE_MS = 1_000;

interface ShardLease {
  shard_id: string;
  lease_holder: string | null;
  expires_within_duration: boolean | null;
}

describe('who holds each shard lease, shown to operators', () => {
  let harness: Harness;
  const others: RunningKinesql[] = [];

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: SHARDS }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({
        ...config,
        server: { ...config.server, httpPort: 0 },
        scan: { ...config.scan!, readBudgetShare: 0.2, leaseDurationMs: LEASE_MS },
      }),
    });
    const url = engineUrlOf(harness.server.engine.endpoint);
    for (let i = 0; i < 2; i++) others.push(await startKinesql({ ...harness.config, engine: { ...harness.config.engine, url } }, testLogger));
  }, 120_000);

  afterAll(async () => {
    for (const server of others) await server.close();
    await harness?.close();
  });

  /** How kinesql.shards names a server: host, client port, pid. */
  const nameOf = (server: RunningKinesql) => `${hostname()}:${server.port}/${process.pid}`;

  const query = async <T>(server: RunningKinesql, sql: string): Promise<T[]> => {
    const client = new pg.Client({ host: server.host, port: server.port, user: 'tester', database: 'kinesql' });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };

  const shardLeases = (server: RunningKinesql) =>
    query<ShardLease>(
      server,
      `select shard_id, lease_holder, lease_expires_at <= now() + interval '${LEASE_MS} milliseconds' as expires_within_duration
         from kinesql.shards where table_name = 'ticks' order by shard_id`,
    );

  /** kinesql_table_shard_leases of the table on the server's /metrics. */
  const leasesHeld = async (server: RunningKinesql): Promise<number | undefined> => {
    const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
    return samples.find((sample) => sample.name === 'kinesql_table_shard_leases' && sample.labels['table'] === 'public.ticks')?.value;
  };

  /** Waits until every shard shows a holder among `servers` and each server's /metrics counts the shards the view gives it. */
  const settledOn = async (servers: RunningKinesql[], balanced: (counts: number[]) => boolean): Promise<ShardLease[]> => {
    let rows: ShardLease[] = [];
    await vi.waitFor(
      async () => {
        rows = await shardLeases(servers[0]!);
        expect(rows).toHaveLength(SHARDS);
        const names = servers.map(nameOf);
        for (const row of rows) expect(names).toContain(row.lease_holder);
        const counts = names.map((name) => rows.filter((row) => row.lease_holder === name).length);
        expect(balanced(counts), JSON.stringify(counts)).toBe(true);
        expect(await Promise.all(servers.map(leasesHeld))).toEqual(counts);
      },
      { timeout: 20_000, interval: 200 },
    );
    return rows;
  };

  it('shows each shard with exactly one holder, and each server counts the leases it holds', async () => {
    const servers = [harness.server, ...others];
    expect(new Set(servers.map(nameOf)).size).toBe(3);
    const rows = await settledOn(servers, (counts) => counts.every((count) => count === 1));
    expect(new Set(rows.map((row) => row.shard_id)).size).toBe(SHARDS);
    expect(rows.every((row) => row.expires_within_duration === true)).toBe(true);
    // Every server writes the same holders into the view: the engine's lease table is the one truth.
    for (const server of others) {
      await vi.waitFor(async () => expect((await shardLeases(server)).map((row) => row.lease_holder)).toEqual(rows.map((row) => row.lease_holder)), {
        timeout: 5_000,
        interval: 100,
      });
    }
  });

  it('after a server stops, shows its shards with the servers that took them over', async () => {
    const stopped = others.pop()!;
    const before = await shardLeases(harness.server);
    await stopped.close();
    const itsShards = before.filter((row) => row.lease_holder === nameOf(stopped)).map((row) => row.shard_id);
    expect(itsShards).toHaveLength(1);
    const remaining = [harness.server, ...others];
    const rows = await settledOn(remaining, (counts) => [...counts].sort().join() === '1,2');
    expect(rows.map((row) => row.lease_holder)).not.toContain(nameOf(stopped));
    const newHolder = rows.find((row) => row.shard_id === itsShards[0])?.lease_holder;
    expect(remaining.map(nameOf)).toContain(newHolder);
  });

  it('shows a plain user the holders in kinesql.shards, never the lease tables themselves', async () => {
    for (const table of ['kinesql_state.shard_leases', 'kinesql_state.lease_holders']) {
      expect(await query(harness.server, `select count(*)::int as n from ${table}`), table).toEqual([{ n: 0 }]);
      expect((await harness.server.engine.query(`select count(*)::int as n from ${table}`)).rows[0]?.['n'], table).toBeGreaterThan(0);
    }
  });
});
