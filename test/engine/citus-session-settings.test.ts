import pg from 'pg';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { asSuperuser, citusMissing } from '../support/citus-cluster.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';

const onCitus = process.env['KINESQL_TEST_ENGINE'] === 'citus';
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

/**
 * On Citus, each session's `kinesis.*` settings are published in kinesql_state.session_settings for the workers,
 * one row per coordinator backend: the row goes when its session ends, and what sessions of a killed kinesql left
 * is swept when a server starts.
 */
describe.skipIf(!onCitus || citusMissing() !== undefined)('published session settings on a Citus coordinator', () => {
  let harness: Harness;
  let child: ChildServer | undefined;
  let second: RunningKinesql | undefined;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
    await harness.put(
      'ticks',
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await child?.stop();
    await second?.close();
    await harness?.close();
  });

  /** The coordinator backends that have a row, as the administrator reads the table. */
  const publishedPids = async (): Promise<number[]> =>
    (await harness.server.engine.query('select coordinator_pid from kinesql_state.session_settings order by 1')).rows.map((row) =>
      Number(row['coordinator_pid']),
    );

  /** A session that set a window of its own and read the table: its settings are published. Returns its backend's pid. */
  const publishingSession = async (client: pg.Client, offsetSeconds: number): Promise<number> => {
    await client.query(`SET kinesis.iter_offset_seconds = ${offsetSeconds}`);
    expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 10 }]);
    return Number((await client.query('select pg_backend_pid() as pid')).rows[0].pid);
  };

  it("removes a session's row when it ends, by Terminate or with its backend, and keeps the others'", async () => {
    const clients = [await harness.connect(), await harness.connect(), await harness.connect()];
    for (const client of clients) client.on('error', () => undefined);
    const [ended, terminated, staying] = clients as [pg.Client, pg.Client, pg.Client];
    try {
      const pids: number[] = [];
      for (const [i, client] of clients.entries()) pids.push(await publishingSession(client, 3_600 + i));
      expect(await publishedPids()).toEqual(expect.arrayContaining(pids));

      await ended.end();
      // Its client is told (57P01) and the connection ends.
      const lost = new Promise((resolve) => terminated.once('end', resolve));
      await asSuperuser(harness.citus!.coordinator, (admin) => admin.query('select pg_terminate_backend($1::int)', [pids[1]]));
      await lost;
      await vi.waitFor(async () => expect(await publishedPids()).toEqual([pids[2]]), { timeout: 10_000, interval: 100 });

      // The remaining session still sees its own window on the workers.
      expect((await staying.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 10 }]);
    } finally {
      await staying.end();
      await terminated.end().catch(() => undefined);
    }
    await vi.waitFor(async () => expect(await publishedPids()).toEqual([]), { timeout: 10_000, interval: 100 });
  });

  it('sweeps the rows a killed kinesql left when a server starts, and keeps those of live sessions', async () => {
    child = await startChildServer({
      tablesDir: harness.tablesDir,
      kinesisEndpoint: harness.config.aws.kinesisEndpoint!,
      engineUrl: harness.config.engine.url!,
      readyTable: 'ticks',
    });
    const orphan = new pg.Client({ host: '127.0.0.1', port: child.port, user: 'tester', database: 'kinesql' });
    orphan.on('error', () => undefined);
    await orphan.connect();
    const orphanPid = await publishingSession(orphan, 7_200);
    const live = await harness.connect();
    const livePid = await publishingSession(live, 3_600);
    try {
      child.process.kill('SIGKILL');
      await once(child.process, 'exit');
      child = undefined;
      // The killed server's backend ends with its connection; its row stays, as nothing withdrew it.
      await vi.waitFor(
        async () => {
          const { rows } = await harness.server.engine.query('select count(*)::int as n from pg_stat_activity where pid = $1', [orphanPid]);
          expect(rows).toEqual([{ n: 0 }]);
        },
        { timeout: 10_000, interval: 100 },
      );
      expect(await publishedPids()).toEqual(expect.arrayContaining([orphanPid, livePid]));

      second = await startKinesql(harness.config, testLogger);
      const after = await publishedPids();
      expect(after).toContain(livePid);
      expect(after).not.toContain(orphanPid);
    } finally {
      await live.end();
    }
  });
});
