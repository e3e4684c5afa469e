import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineAdmin, whenServedAgain } from '../support/engine-faults.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * A session that accepts stale answers (kinesql.max_staleness) is answered from what is loaded when its shards
 * were read to their tips recently. After an engine crash that lost acknowledged commits, "recently read"
 * no longer says what the engine holds: the session must get every record it was already shown, not the
 * engine's shorter table.
 */
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a bounded-staleness session after the engine lost commits', () => {
  let harness: Harness;

  beforeAll(async () => {
    // No follower: only statements read, so nothing reloads the positions behind the test's back.
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('is not answered from positions the engine lost', async () => {
    await harness.put('ticks', ticks(0, 100));
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(100);
    } finally {
      await client.end();
    }

    const killer = await engineAdmin(harness);
    const walWriter = Number((await killer.query(`select pid from pg_stat_activity where backend_type = 'walwriter'`)).rows[0]?.pid);
    const victim = Number((await killer.query('select pg_backend_pid() as pid')).rows[0]?.pid);
    process.kill(walWriter, 'SIGSTOP');
    try {
      // Loaded and acknowledged, but its WAL stays in memory.
      await harness.put('ticks', ticks(100, 50));
      const strict = await harness.connect();
      try {
        expect((await strict.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(150);
      } finally {
        await strict.end();
      }
      await sleep(300);
      process.kill(victim, 'SIGKILL');
    } finally {
      process.kill(walWriter, 'SIGCONT');
    }
    await killer.end().catch(() => undefined);

    // The crash lost rows of the second batch (all, or those of one shard when the other's reached the disk).
    const check = await whenServedAgain(harness, 'select 1');
    expect(check.rows).toHaveLength(1);
    const engine = await engineAdmin(harness);
    try {
      expect((await engine.query('select count(*)::int as n from public.ticks')).rows[0]?.n).toBeLessThan(150);
    } finally {
      await engine.end();
    }

    const stale = await harness.connect();
    try {
      await stale.query(`SET kinesql.max_staleness = '1h'`);
      expect((await stale.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(150);
    } finally {
      await stale.end();
    }
  }, 120_000);
});
