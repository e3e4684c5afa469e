import { execFile } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentText } from '../../src/http/status-page.js';
import { startHarness, type Harness } from '../support/harness.js';
import { parseMetrics } from '../support/prometheus-text.js';

const run = promisify(execFile);

const fields = [{ name: 'n', type: 'INTEGER', mapping: 'n' }];
const EVIL_TABLE = '<script>document.body.dataset.pwned=1</script>';
const EVIL_STREAM = '<img src=x onerror=document.body.dataset.pwned=2>';
const definitions = {
  'ticks.json': { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields } },
  'recent.json': { tableName: 'recent', streamName: 'recent', message: { dataFormat: 'json', fields } },
  'evil.json': { tableName: EVIL_TABLE, streamName: EVIL_STREAM, message: { dataFormat: 'json', fields } },
};
const WINDOW_SECONDS = 600;
const WINDOW_SIZE = { width: 1400, height: 900 };

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Every PromQL string of a Grafana dashboard: panel targets' `expr`, template variables' queries. */
function queryStrings(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(queryStrings);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    typeof inner === 'string' ? (key === 'expr' || key === 'definition' ? [inner] : []) : queryStrings(inner),
  );
}

/** Headless Chromium (Debian's `chromium`, installed by scripts/ensure-test-tools.sh) with its own profile. */
async function chromium(profile: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(
    'chromium',
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      `--window-size=${WINDOW_SIZE.width},${WINDOW_SIZE.height}`,
      ...args,
    ],
    { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** The rows of the rendered page's table: per table row, its name and the percent its bar shows. */
function renderedTables(dom: string): Map<string, { percent: string; bar: string }> {
  const tables = new Map<string, { percent: string; bar: string }>();
  for (const match of dom.matchAll(
    /<tr class="table" data-table="([^"]*)"[\s\S]*?<div class="progress table[^"]*"[^>]*aria-valuenow="([^"]*)"[\s\S]*?<span class="percent">([^<]*)<\/span>/g,
  )) {
    tables.set(match[1]!, { bar: match[2]!, percent: match[3]! });
  }
  return tables;
}

describe('the status page at the operator HTTP port', () => {
  let harness: Harness;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kinesql-status-page-'));
    harness = await startHarness({
      streams: [
        { name: 'ticks', shards: 2 },
        { name: 'recent', shards: 1 },
      ],
      definitions,
      configure: (config) => ({
        ...config,
        server: { ...config.server, httpPort: 0 },
        read: { ...config.read, iterFromTimestamp: true, iterOffsetSeconds: WINDOW_SECONDS },
      }),
    });
    base = `http://127.0.0.1:${harness.server.httpPort}`;
    await harness.put(
      'ticks',
      Array.from({ length: 30 }, (_, n) => ({ n })),
    );
    await harness.put(
      'recent',
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );
    const client = await harness.connect();
    try {
      // ticks loads its whole window; recent only its last minute (a tenth of the window); the evil
      // table's stream cannot be read, so it loads nothing and keeps the error.
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 30 }]);
      expect((await client.query(`select count(*)::int as n from recent where _message_timestamp > now() - interval '1 minute'`)).rows).toEqual([{ n: 10 }]);
      await expect(client.query(`select count(*) from "${EVIL_TABLE}"`)).rejects.toThrow();
    } finally {
      await client.end();
    }
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('renders every table with a bar whose percent is the load progress /metrics reports, names and errors escaped', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');

    const dom = await chromium(join(dir, 'profile-dom'), '--dump-dom', `${base}/`);
    const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    const progress = new Map(
      samples.filter((sample) => sample.name === 'kinesql_table_load_progress_ratio').map((sample) => [sample.labels['table']!, sample.value]),
    );
    const rendered = renderedTables(dom);

    expect([...rendered.keys()].sort()).toEqual(['public.&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;', 'public.recent', 'public.ticks']);
    expect(rendered.get('public.ticks')!.percent).toBe('100.0%');
    expect(progress.get('public.ticks')).toBe(1);
    expect(rendered.get('public.&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;')!.percent).toBe('0.0%');
    const recent = progress.get('public.recent')!;
    expect(recent).toBeGreaterThan(0.05);
    expect(recent).toBeLessThan(0.5);
    expect(rendered.get('public.recent')!.percent).toBe(percentText(recent));
    expect(Number(rendered.get('public.recent')!.bar)).toBeCloseTo(recent * 100, 1);
    // Two shards of ticks and one of recent, each with its own bar.
    expect(dom.match(/<tr class="shard"/g)).toHaveLength(3);

    // The hostile names are text: no element came from them, no handler ran, and the stream's error shows.
    expect(dom).not.toMatch(/<script/i);
    expect(dom).not.toMatch(/<img/i);
    expect(dom).not.toContain('data-pwned');
    expect(dom).toContain(`stream ${EVIL_STREAM.replaceAll('<', '&lt;').replaceAll('>', '&gt;')}`);
    const evilRow = /<tr class="table" data-table="public\.&lt;script[\s\S]*?<\/tr>/.exec(dom)![0];
    expect(evilRow).toMatch(/<td class="error"><div>[^<]+<\/div>/);
    expect(dom).toContain('<span class="badge ready">ready</span>');
  }, 120_000);

  it('scrapes every metric the shipped Grafana dashboard and Prometheus alert rules use', async () => {
    const scraped = new Set(parseMetrics(await (await fetch(`${base}/metrics`)).text()).map((sample) => sample.name));
    const dashboard = JSON.parse(await readFile(join(REPO, 'ops/grafana-dashboard.json'), 'utf8')) as unknown;
    const alerts = await readFile(join(REPO, 'ops/prometheus-alerts.yml'), 'utf8');
    const dashboardQueries = queryStrings(dashboard);
    const alertQueries = [...alerts.matchAll(/^\s+expr: (.+)$/gm)].map((match) => match[1]!);
    // Every rule's expression was found (one line each), and every panel has queries.
    expect(alertQueries).toHaveLength([...alerts.matchAll(/^\s+- alert: /gm)].length);
    expect(dashboardQueries.length).toBeGreaterThan(20);
    const used = (queries: string[]) => new Set(queries.flatMap((query) => query.match(/\b(?:kinesql|process|nodejs)_[a-zA-Z0-9_]+/g) ?? []));
    for (const names of [used(dashboardQueries), used(alertQueries)]) {
      expect([...names].filter((name) => !scraped.has(name))).toEqual([]);
      expect([...names].some((name) => name.startsWith('process_') || name.startsWith('nodejs_'))).toBe(true);
      expect(names.has('kinesql_table_load_progress_ratio')).toBe(true);
    }
  });

  it('screenshots as a PNG of the window size', async () => {
    const screenshot = join(dir, 'status-page.png');
    await chromium(join(dir, 'profile-shot'), `--screenshot=${screenshot}`, `${base}/`);
    const png = await readFile(screenshot);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }).toEqual(WINDOW_SIZE);
    // A blank page of that size compresses to a few kilobytes; tables, bars and text take far more.
    expect((await stat(screenshot)).size).toBeGreaterThan(20_000);
    console.log(`status page screenshot: ${screenshot}`);
  }, 120_000);
});
