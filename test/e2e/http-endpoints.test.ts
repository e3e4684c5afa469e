import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { parseMetrics } from '../support/prometheus-text.js';

const ticks = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const missing = { tableName: 'ghost', streamName: 'no-such-stream', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

describe('the operator HTTP port: /metrics, /healthz, /readyz', () => {
  let harness: Harness;
  let base: string;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': ticks },
      configure: (config) => ({ ...config, server: { ...config.server, httpPort: 0 } }),
    });
    base = `http://127.0.0.1:${harness.server.httpPort}`;
    await harness.put(
      'ticks',
      Array.from({ length: 30 }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('reports reads, rows, sessions and statements after a known workload', async () => {
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 30 }]);
      await client.query('select 1');
      await client.query('select count(*) from ticks where n > 10');
      await expect(client.query('insert into ticks (n) values (1)')).rejects.toMatchObject({ code: '25006' });
      await expect(client.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const samples = parseMetrics(await response.text());
      const sum = (name: string, filter: (labels: Record<string, string>) => boolean = () => true) =>
        samples.filter((sample) => sample.name === name && filter(sample.labels)).reduce((total, sample) => total + sample.value, 0);
      expect(sum('kinesql_shard_records_read_total', (labels) => labels['table'] === 'public.ticks')).toBe(30);
      expect(
        samples
          .filter((sample) => sample.name === 'kinesql_shard_records_read_total')
          .map((sample) => sample.labels['shard'])
          .sort(),
      ).toHaveLength(2);
      expect(sum('kinesql_shard_get_records_calls_total')).toBeGreaterThanOrEqual(2);
      expect(sum('kinesql_table_rows', (labels) => labels['validity'] === 'valid')).toBe(30);
      expect(sum('kinesql_sessions')).toBe(1);
      expect(sum('kinesql_catch_up_duration_seconds_count')).toBeGreaterThanOrEqual(2);
      expect(sum('kinesql_engine_database_bytes')).toBeGreaterThan(0);
      expect(sum('kinesql_engine_connections')).toBeGreaterThanOrEqual(1);
      expect(sum('kinesql_statements_total', (labels) => labels['outcome'] === 'ok')).toBe(3);
      expect(sum('kinesql_statements_total', (labels) => labels['outcome'] === 'refused')).toBe(1);
      expect(sum('kinesql_statements_total', (labels) => labels['outcome'] === 'error')).toBe(1);
      expect(sum('kinesql_statement_duration_seconds_count')).toBe(5);
    } finally {
      await client.end();
    }
  });

  it('answers /healthz, and /readyz ready with the broken table named while only one stream is in error', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, problems: [], tables: [] });
    expect((await fetch(`${base}/nothing-here`)).status).toBe(404);

    await writeFile(join(harness.tablesDir, 'ghost.json'), JSON.stringify(missing));
    const client = await harness.connect();
    try {
      for (let attempt = 0; attempt < 100; attempt++) {
        // Until the new definition is served the table does not exist (42P01); then reading its stream fails.
        const code = await client.query('select count(*) from ghost').then(
          () => undefined,
          (error: { code?: string }) => error.code,
        );
        if (code?.startsWith('HV')) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await client.end();
    }
    // The other tables still answer: a readiness probe must not take them offline.
    const stillReady = await fetch(`${base}/readyz`);
    expect(stillReady.status).toBe(200);
    const body = (await stillReady.json()) as { ready: boolean; problems: string[]; tables: { table: string; stream: string; problem: string }[] };
    expect(body.ready).toBe(true);
    expect(body.problems).toEqual([]);
    expect(body.tables.map(({ table, stream }) => ({ table, stream }))).toEqual([{ table: 'public.ghost', stream: 'no-such-stream' }]);
    expect(
      await harness.connect().then(async (client) => {
        try {
          return (await client.query('select count(*)::int as n from ticks')).rows[0];
        } finally {
          await client.end();
        }
      }),
    ).toEqual({ n: 30 });
  });
});

describe('/readyz with kinesql.ready-requires-every-table', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': ticks, 'ghost.json': missing },
      configure: (config) => ({ ...config, server: { ...config.server, httpPort: 0, readyRequiresEveryTable: true } }),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers 503 naming the stream while any table cannot read its stream', async () => {
    const client = await harness.connect();
    try {
      await expect(client.query('select count(*) from ghost')).rejects.toMatchObject({ code: expect.stringMatching(/^HV/) });
    } finally {
      await client.end();
    }
    const answer = await fetch(`http://127.0.0.1:${harness.server.httpPort}/readyz`);
    expect(answer.status).toBe(503);
    const body = (await answer.json()) as { ready: boolean; problems: string[] };
    expect(body.ready).toBe(false);
    expect(body.problems.join('\n')).toContain('stream no-such-stream (table public.ghost)');
  });
});
