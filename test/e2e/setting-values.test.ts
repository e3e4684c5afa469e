import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

describe('SHOW and pg_settings give the effective kinesis.* and kinesql.* values', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({ ...config, read: { ...config.read, iterOffsetSeconds: 7200, maxBatches: 4 } }),
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('answers SHOW with the operator default until the session sets a value, under any spelling', async () => {
    const client = await harness.connect();
    const show = async (name: string) => Object.values((await client.query(`SHOW ${name}`)).rows[0] as Record<string, string>)[0];
    try {
      expect(await show('kinesis.iter_offset_seconds')).toBe('7200');
      expect(await show('kinesis.starting_offset_seconds')).toBe('7200');
      expect(await show('KINESIS.MAX_BATCHES')).toBe('4');
      expect(await show('kinesql.max_staleness')).toMatch(/^\d+ms$/);
      await client.query('SET kinesis.starting_offset_seconds = 60');
      expect(await show('kinesis.iter_offset_seconds')).toBe('60');
      await client.query('SET kinesis.iter_offset_seconds = 30');
      expect(await show('kinesis.iter_offset_seconds')).toBe('30');
      expect((await client.query('SHOW search_path')).rows).toHaveLength(1);
      const settings = await client.query(
        "select name, setting, source from pg_settings where name in ('kinesis.iter_offset_seconds', 'kinesis.max_batches', 'work_mem') order by name",
      );
      expect(settings.rows).toEqual([
        { name: 'kinesis.iter_offset_seconds', setting: '30', source: 'session' },
        { name: 'kinesis.max_batches', setting: '4', source: 'default' },
        { name: 'work_mem', setting: expect.any(String), source: expect.any(String) },
      ]);
      await client.query('RESET kinesis.iter_offset_seconds; RESET kinesis.starting_offset_seconds');
      expect(await show('kinesis.iter_offset_seconds')).toBe('7200');
    } finally {
      await client.end();
    }
  });

  it("lists them in psql's SHOW ALL", async () => {
    const { stdout } = await run('psql', [
      '-X',
      '-A',
      '-t',
      '-h',
      harness.server.host,
      '-p',
      String(harness.server.port),
      '-U',
      'tester',
      '-d',
      'kinesql',
      '-c',
      'SHOW ALL',
    ]);
    const lines = stdout.split('\n');
    expect(lines.find((line) => line.startsWith('kinesis.iter_offset_seconds|'))).toMatch(/^kinesis\.iter_offset_seconds\|7200\|Size of the session's window/);
    expect(lines.some((line) => line.startsWith('work_mem|'))).toBe(true);
  });
});
