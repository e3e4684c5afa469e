import { describe, expect, it } from 'vitest';
import { DefinitionSet } from '../../src/catalog/definition-set.js';
import { parseDefinition } from '../../src/catalog/parse-definition.js';

function definition(source: string, version: string, tableName: string, stream = 'events', schemaName?: string) {
  return parseDefinition(JSON.stringify({ tableName, schemaName, streamName: stream }), source, version, { defaultSchema: 'public' });
}

const names = (set: DefinitionSet) => set.tables().map((t) => `${t.schemaName}.${t.tableName}@${t.source}:${t.version}`);

describe('DefinitionSet', () => {
  it('serves accepted definitions and reports additions, changes and removals', () => {
    const set = new DefinitionSet();
    const first = definition('a.json', 'v1', 'orders');
    expect(set.accept(first)).toEqual([{ type: 'table-added', table: first }]);
    const second = definition('a.json', 'v2', 'orders', 'orders-stream');
    expect(set.accept(second)).toEqual([{ type: 'table-changed', old: first, table: second }]);
    expect(names(set)).toEqual(['public.orders@a.json:v2']);
    expect(set.remove('a.json')).toEqual([{ type: 'table-removed', table: second }]);
    expect(set.tables()).toEqual([]);
  });

  it('reports no change when only the version or the file name changed', () => {
    const set = new DefinitionSet();
    set.accept(definition('a.json', 'v1', 'orders'));
    expect(set.accept(definition('a.json', 'v2', 'orders'))).toEqual([]);
    expect(set.update({ removed: ['a.json'], accepted: [definition('b.json', 'v1', 'orders')] })).toEqual([]);
    expect(names(set)).toEqual(['public.orders@b.json:v1']);
  });

  it('reports a table renamed inside its file as one removal and one addition', () => {
    const set = new DefinitionSet();
    const old = definition('a.json', 'v1', 'orders');
    set.accept(old);
    const renamed = definition('a.json', 'v2', 'purchases');
    expect(set.accept(renamed)).toEqual([
      { type: 'table-removed', table: old },
      { type: 'table-added', table: renamed },
    ]);
  });

  it('keeps serving the last good version of a broken file and marks it stale', () => {
    const set = new DefinitionSet();
    const at = new Date('2026-01-01T00:00:00Z');
    const good = definition('a.json', 'v1', 'orders');
    set.accept(good, at);
    expect(set.reject('a.json', 'v2', 'a.json: message.fields[0].type: unknown column type "FOO"')).toEqual([]);
    expect(set.tables()).toEqual([good]);
    expect(set.status()).toEqual([
      {
        schemaName: 'public',
        tableName: 'orders',
        source: 'a.json',
        version: 'v1',
        loadedAt: at,
        status: 'stale',
        error: 'a.json: message.fields[0].type: unknown column type "FOO"',
      },
    ]);
    expect(set.versionOf('a.json')).toBe('v2');
    // fixed again: back to ok
    set.accept(definition('a.json', 'v3', 'orders'), at);
    expect(set.status()[0]).toMatchObject({ status: 'ok', version: 'v3', error: null });
  });

  it('reports a file that never parsed as an error without a table', () => {
    const set = new DefinitionSet();
    const at = new Date('2026-01-02T00:00:00Z');
    expect(set.reject('bad.json', 'v1', 'bad.json: not valid JSON', at)).toEqual([]);
    expect(set.status()).toEqual([
      { schemaName: null, tableName: null, source: 'bad.json', version: 'v1', loadedAt: at, status: 'error', error: 'bad.json: not valid JSON' },
    ]);
    expect(set.tables()).toEqual([]);
    set.remove('bad.json');
    expect(set.status()).toEqual([]);
  });

  it('reports two files defining the same table as errors and serves neither, in either order', () => {
    for (const order of [
      ['a.json', 'b.json'],
      ['b.json', 'a.json'],
    ] as const) {
      const set = new DefinitionSet();
      const first = definition(order[0], 'v1', 'orders', 'one');
      const second = definition(order[1], 'v1', 'Orders', 'two');
      set.accept(first);
      expect(set.accept(second)).toEqual([{ type: 'table-removed', table: first }]);
      expect(set.tables()).toEqual([]);
      const status = set.status();
      expect(status.map((s) => [s.source, s.status])).toEqual([
        ['a.json', 'error'],
        ['b.json', 'error'],
      ]);
      expect(status[0]?.error).toMatch(/public.orders is also defined by b.json/);
      expect(status[1]?.error).toMatch(/public.orders is also defined by a.json/);
      // removing one of them serves the other
      expect(set.remove(order[0])).toEqual([{ type: 'table-added', table: second }]);
    }
  });

  it('treats the same table name in different schemas as different tables', () => {
    const set = new DefinitionSet();
    set.update({ accepted: [definition('a.json', 'v1', 'orders', 's', 'sales'), definition('b.json', 'v1', 'orders', 's', 'default')] });
    expect(names(set)).toEqual(['public.orders@b.json:v1', 'sales.orders@a.json:v1']);
  });

  it('shows every definition with the problem of a location that cannot be listed, keeping what is served', () => {
    const set = new DefinitionSet();
    const at = new Date('2026-01-03T00:00:00Z');
    set.accept(definition('a.json', 'v1', 'orders'), at);
    set.reject('bad.json', 'v1', 'bad.json: not valid JSON', at);
    const problem = { location: '/defs', error: "cannot list table definition directory /defs: ENOENT: no such file or directory, scandir '/defs'", at };
    expect(set.status(problem).map((s) => [s.source, s.status, s.error])).toEqual([
      ['a.json', 'stale', problem.error],
      ['bad.json', 'error', `${problem.error}; bad.json: not valid JSON`],
    ]);
    expect(names(set)).toEqual(['public.orders@a.json:v1']);
    expect(set.status().map((s) => s.status)).toEqual(['ok', 'error']);
  });

  it('shows the location itself when it cannot be listed and holds no definition', () => {
    const at = new Date('2026-01-04T00:00:00Z');
    expect(new DefinitionSet().status({ location: 's3://b/p/', error: 'cannot list s3://b/p/: NoSuchBucket: gone', at })).toEqual([
      {
        schemaName: null,
        tableName: null,
        source: 's3://b/p/',
        version: '',
        loadedAt: at,
        status: 'error',
        error: 'cannot list s3://b/p/: NoSuchBucket: gone',
      },
    ]);
  });
});
