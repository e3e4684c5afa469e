import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Engine, endpointFromUrl } from '../../src/engine/engine.js';
import { qualifiedName, type TableName } from '../../src/pg/quoting.js';
import { ColumnarConversions } from '../../src/store/columnar-conversions.js';
import { copyOf } from '../../src/store/columnar-copy.js';
import { PARTITION_SCHEMA, TimePartitions, listPartitions, type TimePartition } from '../../src/store/time-partitions.js';
import { hasColumnar, startColumnarEngine, storedPartitions } from '../support/columnar-engine.js';
import type { ExternalPostgres } from '../support/external-postgres.js';
import { testLogger } from '../support/harness.js';

const PARENT: TableName = { schemaName: 'public', tableName: 'readings' };
const HOUR = 3_600_000;
/** The table's partitions: an hour each from here on. */
const FIRST = Date.parse('2026-01-01T00:00:00Z');

/** An engine whose `query` and `transaction` calls are counted. */
function counted(engine: Engine): { engine: Engine; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(engine, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'query' || property === 'transaction') {
        return (...args: unknown[]) => {
          calls += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { engine: proxy, calls: () => calls };
}

describe.skipIf(!hasColumnar)('conversions of a table whose partitions another kinesql server converted first', () => {
  let postgres: ExternalPostgres;
  let admin: pg.Client;
  let engine: Engine;
  let partitions: TimePartition[];

  beforeAll(async () => {
    ({ engine: postgres, admin } = await startColumnarEngine());
    engine = await Engine.connect(endpointFromUrl(postgres.url), testLogger);
    await engine.exec(`CREATE SCHEMA IF NOT EXISTS ${PARTITION_SCHEMA}`);
    await engine.exec(`CREATE TABLE ${qualifiedName(PARENT)} (_message_timestamp timestamptz NOT NULL, n int) PARTITION BY RANGE (_message_timestamp)`);
    const starts = Array.from({ length: 4 }, (_, hour) => new Date(FIRST + hour * HOUR));
    await new TimePartitions(PARENT, 3600).ensure(engine, starts);
    await engine.query(`INSERT INTO ${qualifiedName(PARENT)} SELECT $1::timestamptz + g * interval '1 second', g FROM generate_series(0, 4 * 3600 - 1, 10) g`, [
      new Date(FIRST).toISOString(),
    ]);
    partitions = await listPartitions(engine, PARENT);
  }, 120_000);

  afterAll(async () => {
    await engine?.close();
    await admin?.end();
    await postgres?.stop();
  });

  const conversions = (on: Engine) =>
    new ColumnarConversions({ engine: on, parent: PARENT, logger: testLogger, distributed: false, pauseAfterFailureMs: 60_000 });
  const storage = async (): Promise<string[]> => (await storedPartitions(admin, qualifiedName(PARENT))).map((partition) => partition.storage);

  it('asks the engine nothing more for the partitions closed before, once a run found none left for it', async () => {
    const first = partitions[0]!;
    const copy = copyOf(first.table);
    // Another server is converting the oldest partition: it holds the partition's claim.
    const other = new pg.Client({ connectionString: postgres.adminUrl, database: new URL(postgres.url).pathname.slice(1) });
    await other.connect();
    const claimKey = `kinesql.columnar ${copy.schemaName}.${copy.tableName}`;
    await other.query('SELECT pg_advisory_lock(hashtext($1))', [claimKey]);

    const mine = counted(engine);
    const server = conversions(mine.engine);
    const threeClosed = { to: partitions[2]!.to };
    try {
      server.offer(threeClosed);
      await vi.waitFor(async () => expect(await storage()).toEqual(['heap', 'columnar', 'columnar', 'heap']), { timeout: 60_000, interval: 200 });
      // The other server finishes: the oldest partition is columnar too.
      await other.query('SELECT pg_advisory_unlock(hashtext($1))', [claimKey]);
      const elsewhere = conversions(engine);
      elsewhere.offer(threeClosed);
      await vi.waitFor(async () => expect(await storage()).toEqual(['columnar', 'columnar', 'columnar', 'heap']), { timeout: 60_000, interval: 200 });
      await elsewhere.stop();
      // Waits for this server's run to end (it has nothing left to convert), then lets it take offers again.
      await server.stop();
      server.resume();

      const before = mine.calls();
      for (let catchUp = 0; catchUp < 3; catchUp++) server.offer(threeClosed);
      await server.stop();
      server.resume();
      expect(mine.calls() - before).toBe(0);

      // A partition closed since is converted: the memory holds only what the engine answered.
      server.offer({ to: partitions[3]!.to });
      await vi.waitFor(async () => expect(await storage()).toEqual(['columnar', 'columnar', 'columnar', 'columnar']), { timeout: 60_000, interval: 200 });
      expect(mine.calls()).toBeGreaterThan(before);
    } finally {
      await server.stop();
      await other.end();
    }
  }, 120_000);
});
