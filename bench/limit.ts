/**
 * `LIMIT n` on a table never read before: LIMIT_BENCH_RECORDS records (default 300,000) in a 4-shard stream,
 * then, on the cold table, `select * from t limit 1` (answered once one row of the window is loaded), how much
 * of the window was loaded when it answered, and `select count(*)` (which waits for the whole first load).
 */
import { pathToFileURL } from 'node:url';
import { DEFAULT_SCAN_CONFIG } from '../src/config/config.js';
import { startHarness } from '../test/support/harness.js';

const RECORDS = Number(process.env['LIMIT_BENCH_RECORDS'] ?? 300_000);
const definition = { tableName: 'events', streamName: 'events', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

export async function runLimitBench(): Promise<void> {
  const harness = await startHarness({
    streams: [{ name: 'events', shards: 4 }],
    definitions: { 'events.json': definition },
    // As in the scan bench: a stand-in on a busy machine may take longer than Kinesis's seconds for a call of 10,000 records.
    configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, ...config.scan, callTimeoutMs: 60_000, unresponsiveTimeoutMs: 300_000 } }),
  });
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    const putStarted = performance.now();
    await harness.put(
      'events',
      Array.from({ length: RECORDS }, (_, n) => ({ n, note: `record ${n} of the limit bench` })),
    );
    out(`${RECORDS} records put in ${((performance.now() - putStarted) / 1000).toFixed(1)} s`);
    const client = await harness.connect();
    const status = await harness.connect();
    try {
      const loaded = async () =>
        (await status.query(`select coalesce(sum(records), 0)::int as n from kinesql.streams where table_name = 'events'`)).rows[0].n as number;
      const limitStarted = performance.now();
      const { rows } = await client.query('select * from events limit 1');
      const limitMs = performance.now() - limitStarted;
      const loadedThen = await loaded();
      out(`select * from events limit 1 (cold table): ${limitMs.toFixed(0)} ms, ${rows.length} row; ${loadedThen} of ${RECORDS} records loaded then`);
      const countStarted = performance.now();
      const counted = (await client.query('select count(*)::int as n from events')).rows[0].n as number;
      out(`select count(*) from events right after: ${((performance.now() - countStarted) / 1000).toFixed(1)} s, ${counted} rows`);
      if (rows.length !== 1 || counted !== RECORDS) process.exitCode = 1;
    } finally {
      await client.end();
      await status.end();
    }
  } finally {
    await harness.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runLimitBench();
