import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

describe("the operator's limits are ceilings a client may lower, never raise", () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({
        ...config,
        engine: { ...config.engine, workMem: '64MB', statementTimeoutMs: 30_000, lockTimeoutMs: 10_000, maxWindowSeconds: 120 },
        wire: { ...config.wire, idleInTransactionTimeoutMs: 60_000 },
      }),
    });
    await harness.put('ticks', [{ n: 1 }, { n: 2 }]);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const show = async (client: pg.Client, setting: string) => (await client.query(`SHOW ${setting}`)).rows[0]?.[setting] as string;

  it('refuses raising a limit past its operator value with 42501 naming the key, by SET, SET LOCAL and set_config', async () => {
    const client = await harness.connect();
    try {
      expect(await show(client, 'work_mem')).toBe('64MB');
      await expect(client.query(`SET work_mem = '2TB'`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('kinesql.work-mem') });
      await expect(client.query('SET idle_in_transaction_session_timeout = 0')).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('kinesql.idle-in-transaction-timeout'),
      });
      await expect(client.query('SET statement_timeout = 0')).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('kinesql.statement-timeout'),
      });
      await expect(client.query(`SET statement_timeout = '100us'`)).rejects.toMatchObject({ code: '42501' });
      await expect(client.query(`select set_config('work_mem', '2TB', false)`)).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('kinesql.work-mem'),
      });
      await expect(client.query(`select set_config('work_mem', $1, false)`, ['1MB'])).rejects.toMatchObject({ code: '42501' });
      await expect(client.query(`SET hash_mem_multiplier = 50`)).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('kinesql.hash-mem-multiplier'),
      });
      await client.query('BEGIN');
      await expect(client.query(`SET LOCAL lock_timeout = '1min'`)).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('kinesql.lock-timeout'),
      });
      await client.query('ROLLBACK');
      expect(await show(client, 'work_mem')).toBe('64MB');
      expect(await show(client, 'idle_in_transaction_session_timeout')).toBe('1min');
    } finally {
      await client.end();
    }
  });

  it('lets a session tighten its limits and go back to the operator value', async () => {
    const client = await harness.connect();
    try {
      await client.query(`SET work_mem = '4MB'`);
      await client.query(`SET statement_timeout = '5s'`);
      await client.query(`select set_config('idle_in_transaction_session_timeout', '10s', false)`);
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = '1s'`);
      expect(await show(client, 'lock_timeout')).toBe('1s');
      await client.query('COMMIT');
      expect([await show(client, 'work_mem'), await show(client, 'statement_timeout'), await show(client, 'idle_in_transaction_session_timeout')]).toEqual([
        '4MB',
        '5s',
        '10s',
      ]);
      await client.query('RESET work_mem');
      expect(await show(client, 'work_mem')).toBe('64MB');
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 2 }]);
    } finally {
      await client.end();
    }
  });

  it('refuses a startup packet that raises a limit, with FATAL 42501', async () => {
    const client = new pg.Client({ ...harness.connection, options: '-c work_mem=2TB' });
    await expect(client.connect()).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('kinesql.work-mem') });
    const lower = new pg.Client({ ...harness.connection, options: '-c work_mem=2MB' });
    await lower.connect();
    try {
      expect(await show(lower, 'work_mem')).toBe('2MB');
    } finally {
      await lower.end();
    }
  });

  it("lets a session's window reach back only as far as kinesql.max-window", async () => {
    const client = await harness.connect();
    try {
      for (const statement of [
        `SET kinesis.iter_start_timestamp = '1970-01-01'`,
        `SET kinesis.starting_timestamp = '1970-01-01 00:00:00.000'`,
        `SET kinesis.iter_from_timestamp = false`,
        `SET kinesis.iter_offset_seconds = 3600`,
        `select set_config('kinesis.iter_start_timestamp', '1970-01-01', false)`,
      ]) {
        await expect(client.query(statement), statement).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('kinesql.max-window') });
      }
      await client.query('SET kinesis.iter_offset_seconds = 60');
      await client.query(`SET kinesis.iter_start_timestamp = '${new Date(Date.now() - 30_000).toISOString()}'`);
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 2 }]);
    } finally {
      await client.end();
    }
  });
});
