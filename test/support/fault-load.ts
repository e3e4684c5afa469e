/**
 * Load to run a fault under: a writer putting records `{k, seq}` (seq counting up per key) into a stream, and
 * clients querying the stream's table over kinesql, half on one connection each (connecting again when it
 * ends), half on a new connection per query. Every answer and error is recorded with when it happened.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { createKinesisClient } from '../../src/kinesis/client.js';
import type { Harness } from './harness.js';

export interface Answer {
  client: number;
  /** ms since the load began */
  start: number;
  end: number;
  ok: boolean;
  count?: number;
  code?: string;
  message?: string;
}

export interface FaultLoadOptions {
  connection: pg.ClientConfig;
  table: string;
  clients: number;
  /** Puts one batch of records into the stream. */
  put(records: { k: string; seq: number }[], partitionKeys: string[]): Promise<void>;
  keys?: number;
  recordsPerRound?: number;
  roundPauseMs?: number;
  queryPauseMs?: number;
}

/** An error the server sent (it has a SQLSTATE), not one of the client's own (a refused or dropped socket). */
export function fromServer(answer: Answer): boolean {
  return answer.code !== undefined && /^[0-9A-Z]{5}$/.test(answer.code);
}

/** The definition of a table over a stream of `{k, seq}` records, named like the stream. */
export function keySeqDefinition(name: string) {
  return {
    tableName: name,
    streamName: name,
    message: {
      dataFormat: 'json',
      fields: [
        { name: 'k', type: 'VARCHAR', mapping: 'k' },
        { name: 'seq', type: 'INTEGER', mapping: 'seq' },
      ],
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until every client of `load` had a query that started at or after `at` answered (within timeoutMs, else
 * throws), then lets the load run one more second, so that what was loaded meanwhile is checked too.
 */
export async function untilServedAgain(load: FaultLoad, at: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!load.servedAgainAfter(at).every(Number.isFinite)) {
    if (performance.now() > deadline) throw new Error(`not every client was served again within ${timeoutMs} ms`);
    await sleep(100);
  }
  await sleep(1_000);
}

/** Bounds waiting for a load to be under way (FaultLoad.underWay) on a busy machine; not a speed assertion. */
export const UNDER_WAY = { timeout: 60_000, interval: 50 };

export class FaultLoad {
  readonly answers: Answer[] = [];
  /** Records the writer put (and Kinesis accepted). */
  put = 0;
  readonly writerErrors: string[] = [];
  /** The last seq put for each key. */
  readonly lastSeq = new Map<string, number>();
  private readonly begun = performance.now();
  private running = true;
  private readonly work: Promise<void>[] = [];

  constructor(private readonly options: FaultLoadOptions) {
    this.work.push(this.write());
    for (let i = 0; i < options.clients; i++) this.work.push(this.query(i, i % 2 === 0));
  }

  /** ms since the load began. */
  now(): number {
    return performance.now() - this.begun;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.work);
  }

  /** Whether the writer has put records and every client has had an answer: a fault now happens under load. */
  underWay(): boolean {
    return this.put > 0 && this.servedAgainAfter(0).every(Number.isFinite);
  }

  /** Per client, how long after `at` its first query that started after `at` succeeded (Infinity: none did). */
  servedAgainAfter(at: number): number[] {
    return Array.from({ length: this.options.clients }, (_, client) => {
      const served = this.answers.filter((answer) => answer.client === client && answer.ok && answer.start >= at);
      return served.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...served.map((answer) => answer.end)) - at;
    });
  }

  errors(): Answer[] {
    return this.answers.filter((answer) => !answer.ok);
  }

  private async write(): Promise<void> {
    const keys = this.options.keys ?? 8;
    const perRound = this.options.recordsPerRound ?? 20;
    const nextSeq = new Array<number>(keys).fill(0);
    let round = 0;
    while (this.running) {
      const records: { k: string; seq: number }[] = [];
      for (let i = 0; i < perRound; i++) {
        const key = (round * perRound + i) % keys;
        records.push({ k: `k${key}`, seq: nextSeq[key]! });
        nextSeq[key]! += 1;
      }
      try {
        await this.options.put(
          records,
          records.map((record) => record.k),
        );
        this.put += records.length;
        for (const record of records) this.lastSeq.set(record.k, record.seq);
      } catch (error) {
        // The batch may or may not have been stored: the exactness check could no longer be trusted.
        this.writerErrors.push(String(error));
        return;
      }
      round += 1;
      await sleep(this.options.roundPauseMs ?? 50);
    }
  }

  private async query(client: number, persistent: boolean): Promise<void> {
    let connection: pg.Client | undefined;
    while (this.running) {
      const start = this.now();
      try {
        if (!connection) {
          connection = new pg.Client(this.options.connection);
          connection.on('error', () => undefined);
          await connection.connect();
        }
        const { rows } = await connection.query(`select count(*)::int as n from ${this.options.table}`);
        this.answers.push({ client, start, end: this.now(), ok: true, count: Number(rows[0]?.['n']) });
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        this.answers.push({ client, start, end: this.now(), ok: false, ...(code ? { code } : {}), message });
        await connection?.end().catch(() => undefined);
        connection = undefined;
      }
      if (!persistent) {
        await connection?.end().catch(() => undefined);
        connection = undefined;
      }
      await sleep(this.options.queryPauseMs ?? 100);
    }
    await connection?.end().catch(() => undefined);
  }
}

/**
 * What the table shows against what was put: rows, distinct records and messages, the last seq loaded per
 * key, and keys whose seq skips or repeats.
 */
export async function exactness(
  client: pg.Client,
  table: string,
): Promise<{ n: number; records: number; messages: number; lastSeq: Map<string, number>; outOfOrder: string[] }> {
  const totals = await client.query(
    `select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as records, count(distinct (k, seq))::int as messages from ${table}`,
  );
  const last = await client.query(`select k, max(seq)::int as seq from ${table} group by k`);
  const outOfOrder = await client.query(
    `select k, seq, previous from (select k, seq, lag(seq) over (partition by k order by _shard_sequence_id::numeric) as previous from ${table}) s
      where previous is not null and seq <> previous + 1 order by k, seq limit 20`,
  );
  const row = totals.rows[0] as { n: number; records: number; messages: number };
  return {
    ...row,
    lastSeq: new Map(last.rows.map((r) => [String(r['k']), Number(r['seq'])])),
    outOfOrder: outOfOrder.rows.map((r) => `${r['k']}: ${r['previous']} then ${r['seq']}`),
  };
}

/** A FaultLoad on a harness's stream `table` (named like its table), its writer on a Kinesis client of its own. */
export function startFaultLoad(harness: Harness, table: string, clients: number): { load: FaultLoad; stop(): Promise<void> } {
  const writer = createKinesisClient(harness.config.aws);
  const load = new FaultLoad({
    connection: harness.connection,
    table,
    clients,
    put: async (records, keys) => {
      const answer = await writer.send(
        new PutRecordsCommand({
          StreamName: table,
          Records: records.map((record, i) => ({ Data: Buffer.from(JSON.stringify(record)), PartitionKey: keys[i]! })),
        }),
      );
      if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records were not put`);
    },
  });
  return {
    load,
    async stop() {
      await load.stop();
      writer.destroy();
    },
  };
}
