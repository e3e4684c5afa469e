/**
 * How long a definition change takes to reach SQL: from writing the file to the first statement that
 * sees the new table shape. Baseline, measured in the same run: the same write seen by a bare chokidar
 * watcher (what any file-watching server pays before it can do anything).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { watch } from 'chokidar';
import { startHarness } from '../test/support/harness.js';

const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const definition = (version: number) =>
  JSON.stringify({
    tableName: 'reload_bench',
    streamName: 'reload-bench',
    message: { dataFormat: 'json', fields: Array.from({ length: 1 + (version % 3) }, (_, i) => ({ name: `c${i}`, type: 'INTEGER', mapping: `v/${i}` })) },
  });

export async function runReloadBench(): Promise<void> {
  const harness = await startHarness({ streams: [{ name: 'reload-bench', shards: 2 }], definitions: {} });
  await harness.put(
    'reload-bench',
    Array.from({ length: 5_000 }, (_, i) => ({ v: [i, i + 1, i + 2] })),
  );
  const client = await harness.connect();
  const file = join(harness.tablesDir, 'reload_bench.json');
  const columnCount = async (): Promise<number> =>
    Number((await client.query(`select count(*) from information_schema.columns where table_name = 'reload_bench' and column_name like 'c%'`)).rows[0].count);

  const kinesqlDelays: number[] = [];
  for (let version = 0; version < ROUNDS; version++) {
    const expected = 1 + (version % 3);
    const started = performance.now();
    await writeFile(file, definition(version));
    while ((await columnCount()) !== expected) await new Promise((resolve) => setTimeout(resolve, 5));
    // The first change needs the table loaded once; later ones are rebuilt from loaded messages.
    await client.query('select count(*) from reload_bench');
    kinesqlDelays.push(performance.now() - started);
  }
  await client.end();

  // A directory of its own: chokidar shares one fs watcher per path between instances in a process.
  const bareDir = await mkdtemp(join(tmpdir(), 'kinesql-bench-watch-'));
  const watcher = watch(bareDir, { ignoreInitial: true });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  const watcherDelays: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const seen = new Promise((resolve) => watcher.once('all', resolve));
    await writeFile(join(bareDir, `bare-watcher-${round}.json`), definition(round));
    await seen;
    watcherDelays.push(performance.now() - started);
  }
  await watcher.close();
  await rm(bareDir, { recursive: true, force: true });
  await harness.close();

  const kinesql = median(kinesqlDelays);
  const bare = median(watcherDelays);
  console.table([
    { what: 'definition file written → new shape queryable (5,000 loaded rows)', 'median ms': Math.round(kinesql) },
    { what: 'baseline: bare chokidar event for a write', 'median ms': Math.round(bare) },
    { what: 'ratio', 'median ms': Number((kinesql / bare).toFixed(1)) },
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runReloadBench();
