/**
 * What the tests of several kinesql servers on one engine check of the `orders` rows each server serves
 * (keyed-orders.ts): every record put exactly once and in per-key order, and counts that never go back.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { expect } from 'vitest';
import { checkExactness } from './exactness.js';
import { KEY_COUNTER_GAPS_SQL } from './keyed-orders.js';

/** One strict count's answer, with when its statement started and ended (ms on one clock). */
export interface TimedCount {
  start: number;
  end: number;
  count: number;
}

/** Answers that counted less than a statement that finished before theirs started (should be none). */
export function countsThatWentBack(answers: TimedCount[]): string[] {
  const byEnd = [...answers].sort((a, b) => a.end - b.end);
  let finishedMax = 0;
  let next = 0;
  const wentBack: string[] = [];
  for (const answer of [...answers].sort((a, b) => a.start - b.start)) {
    while (next < byEnd.length && byEnd[next]!.end < answer.start) finishedMax = Math.max(finishedMax, byEnd[next++]!.count);
    if (answer.count < finishedMax) wentBack.push(`${answer.count} < ${finishedMax} at ${answer.start.toFixed(0)} ms`);
  }
  return wentBack;
}

/** Expects the server on `port` to show each of the `put` records of the stream exactly once, each key's in order. */
export async function expectEveryOrderOnce(kinesis: KinesisClient, port: number, put: number): Promise<void> {
  const check = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
  await check.connect();
  try {
    const totals = await check.query(
      'select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as records, count(distinct (k, seq))::int as messages from orders',
    );
    expect(totals.rows[0]).toEqual({ n: put, records: put, messages: put });
    const outOfOrder = await check.query(KEY_COUNTER_GAPS_SQL);
    expect(outOfOrder.rows).toEqual([]);
    // The stream itself, read from TRIM_HORIZON, against what this server shows.
    const exact = await checkExactness(kinesis, 'orders', check, 'orders');
    expect({ records: exact.records, rows: exact.rows, lost: exact.lost, duplicated: exact.duplicated, unknown: exact.unknown }).toEqual({
      records: put,
      rows: put,
      lost: [],
      duplicated: [],
      unknown: [],
    });
    expect({ shards: exact.outOfOrderShards, keys: exact.outOfOrderKeys }).toEqual({ shards: [], keys: [] });
  } finally {
    await check.end();
  }
}
