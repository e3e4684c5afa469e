import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { sleep } from '../../src/kinesis/retry.js';
import { type Harness, startHarness } from '../support/harness.js';

const WINDOW_SECONDS = 60;
const PUTS = 30;
const PER_PUT = 40;

const events = {
  tableName: 'events',
  streamName: 'events',
  message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] },
};

// A typo in a mapping path (`device/oss` for `device/os`): the column would be NULL in every row.
const devices = {
  tableName: 'devices',
  streamName: 'devices',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'os', type: 'VARCHAR', mapping: 'device/oss' },
      { name: 'model', type: 'VARCHAR', mapping: 'device/model' },
      { name: 'note', type: 'VARCHAR', mapping: 'note' },
    ],
  },
};

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

describe("a table's first load", () => {
  const lines: LogLine[] = [];
  let harness: Harness;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    harness = await startHarness({
      streams: [
        { name: 'events', shards: 2 },
        { name: 'devices', shards: 1 },
      ],
      definitions: { 'events.json': events, 'devices.json': devices },
      logger: pino({ level: 'info' }, sink),
      configure: (config) => ({
        ...config,
        // Small batches over records that arrived over a few seconds: the load takes many reads, each
        // nearer the tip, and many progress intervals.
        read: { ...config.read, iterOffsetSeconds: WINDOW_SECONDS, batchSize: 20 },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, progressIntervalMs: 30 },
      }),
    });
    for (let put = 0; put < PUTS; put++) {
      await harness.put(
        'events',
        Array.from({ length: PER_PUT }, (_, i) => ({ n: put * PER_PUT + i })),
      );
      await sleep(150);
    }
    // `note` is null in every record: present, so its mapping matched.
    await harness.put(
      'devices',
      Array.from({ length: 50 }, (_, i) => ({ device: { os: 'linux', model: `m${i}` }, note: null })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('tells a statement waiting for it the percent of the window loaded and the time left, and logs its start and end', async () => {
    const client = await harness.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: PUTS * PER_PUT }]);
    } finally {
      await client.end();
    }
    expect(notices.length).toBeGreaterThan(2);
    const pattern = /^loading public\.events: (\d+\.\d)% of the window \(1 min\) loaded, (?:about (.+) left|less than a second left|time left not known yet)$/;
    for (const notice of notices) expect(notice).toMatch(pattern);
    const percents = notices.map((notice) => Number(pattern.exec(notice)![1]));
    expect(new Set(percents).size).toBeGreaterThan(2);
    expect(percents.at(-1)!).toBeGreaterThan(percents[0]!);
    expect(percents.at(-1)!).toBeLessThanOrEqual(100);
    // The percent never goes back, though the window moves with the clock while a read is delayed.
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]!);
    expect(notices.some((notice) => /(?: about .+| less than a second) left$/.test(notice))).toBe(true);

    const started = lines.filter((line) => line.msg.startsWith('first load of public.events started'));
    const finished = lines.filter((line) => line.msg.startsWith('first load of public.events finished'));
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ level: 30, table: 'public.events', window: '1 min', windowSeconds: WINDOW_SECONDS, shards: 2 });
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ level: 30, table: 'public.events', records: PUTS * PER_PUT });
    const { bytes, seconds, recordsPerSecond } = finished[0] as unknown as { bytes: number; seconds: number; recordsPerSecond: number };
    expect(bytes).toBeGreaterThan(PUTS * PER_PUT * '{"n":0}'.length - 1);
    expect(seconds).toBeGreaterThan(0);
    expect(recordsPerSecond).toBeGreaterThan(0);

    // Later statements read only the tail: no second first load.
    const again = await harness.connect();
    try {
      await again.query('select count(*) from events');
    } finally {
      await again.end();
    }
    expect(lines.filter((line) => line.msg.startsWith('first load of public.events'))).toHaveLength(2);
  });

  it('reports a field whose mapping matched nothing in the first records, in the log and in kinesql.streams', async () => {
    const client = await harness.connect();
    try {
      const rows = (await client.query('select count(*)::int as n, count(os)::int as os, count(model)::int as model from devices')).rows;
      expect(rows).toEqual([{ n: 50, os: 0, model: 50 }]);
      const streams = await client.query('select table_name, unmatched_fields from kinesql.streams order by table_name');
      expect(streams.rows).toEqual([
        { table_name: 'devices', unmatched_fields: ['os (device/oss)'] },
        { table_name: 'events', unmatched_fields: [] },
      ]);
    } finally {
      await client.end();
    }
    const warnings = lines.filter((line) => line.level === 40 && line.msg.includes('matched nothing'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/devices\.json: field "os" \(mapping "device\/oss"\) matched nothing in the first 50 records$/);
    expect(warnings[0]).toMatchObject({ table: 'public.devices', field: 'os', mapping: 'device/oss', messages: 50 });
    expect(String(warnings[0]!['file'])).toMatch(/devices\.json$/);
  });

  it('looks at the mappings again when a definition change decodes the loaded records again', async () => {
    const client = await harness.connect();
    const unmatched = async () =>
      (await client.query("select unmatched_fields from kinesql.streams where table_name = 'devices'")).rows[0]?.unmatched_fields as string[] | null;
    const redefine = (mapping: string) =>
      writeFile(
        join(harness.tablesDir, 'devices.json'),
        JSON.stringify({
          ...devices,
          message: { ...devices.message, fields: [{ ...devices.message.fields[0]!, mapping }, ...devices.message.fields.slice(1)] },
        }),
      );
    try {
      await redefine('device/OS');
      await vi.waitFor(async () => expect(await unmatched()).toEqual(['os (device/OS)']), { timeout: 20_000, interval: 200 });
      expect(
        lines.filter((line) => line.level === 40 && line.msg.includes('field "os" (mapping "device/OS") matched nothing in the first 50 records')),
      ).toHaveLength(1);
      await redefine('device/os');
      await vi.waitFor(async () => expect(await unmatched()).toEqual([]), { timeout: 20_000, interval: 200 });
      expect((await client.query('select count(os)::int as os from devices')).rows).toEqual([{ os: 50 }]);
    } finally {
      await client.end();
    }
  });
});
