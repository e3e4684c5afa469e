import { EventEmitter } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalog, createCatalog } from '../../src/catalog/catalog.js';
import type { TableDefinition } from '../../src/catalog/definition.js';
import type { DefinitionBatch, DefinitionSource, DefinitionSourceEvents } from '../../src/catalog/definition-source.js';
import { DirectorySource } from '../../src/catalog/directory-source.js';
import { loadConfig } from '../../src/config/load-config.js';

/** A source driven by the test: start() emits the initial batch it was given. */
class ScriptedSource extends EventEmitter<DefinitionSourceEvents> implements DefinitionSource {
  readonly location = 'scripted';
  constructor(private readonly initial: DefinitionBatch) {
    super();
  }
  async start(): Promise<void> {
    this.emit('batch', this.initial);
  }
  async stop(): Promise<void> {}
  send(batch: Partial<DefinitionBatch>): void {
    this.emit('batch', { changed: [], removed: [], ...batch });
  }
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const text = (table: string, extra: Record<string, unknown> = {}) => JSON.stringify({ tableName: table, streamName: 'events', ...extra });
const BAD_TYPE = JSON.stringify({
  tableName: 'orders',
  streamName: 'events',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'id', type: 'bigint', mapping: 'id' },
      { name: 'x', type: 'FOO', mapping: 'x' },
    ],
  },
});

function recordEvents(catalog: Catalog) {
  const events: string[] = [];
  const describe = (t: TableDefinition) => `${t.schemaName}.${t.tableName}(${t.streamName})`;
  catalog.on('table-added', (t) => events.push(`added ${describe(t)}`));
  catalog.on('table-changed', (t, old) => events.push(`changed ${describe(old)} -> ${describe(t)}`));
  catalog.on('table-removed', (t) => events.push(`removed ${describe(t)}`));
  return events;
}

describe('Catalog', () => {
  it('applies the initial load before start() resolves, and emits events for later changes', async () => {
    const source = new ScriptedSource({ changed: [{ source: 'a.json', text: text('Orders'), version: '1' }], removed: [] });
    const { logger } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'streams', logger });
    const events = recordEvents(catalog);
    await catalog.start();
    expect(catalog.tables().map((t) => `${t.schemaName}.${t.tableName}`)).toEqual(['streams.orders']);
    expect(events).toEqual(['added streams.orders(events)']);

    source.send({ changed: [{ source: 'a.json', text: text('orders', { streamName: 'orders-v2' }), version: '2' }] });
    source.send({ removed: ['a.json'] });
    expect(events).toEqual([
      'added streams.orders(events)',
      'changed streams.orders(events) -> streams.orders(orders-v2)',
      'removed streams.orders(orders-v2)',
    ]);
    await catalog.stop();
  });

  it('logs every bad definition with its file and field, and keeps serving the last good version', async () => {
    const source = new ScriptedSource({ changed: [{ source: 'tables/orders.json', text: text('orders'), version: '1' }], removed: [] });
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events = recordEvents(catalog);
    await catalog.start();

    source.send({ changed: [{ source: 'tables/orders.json', text: BAD_TYPE, version: '2' }] });
    expect(events).toEqual(['added public.orders(events)']);
    expect(catalog.tables().map((t) => t.version)).toEqual(['1']);
    expect(catalog.status()).toMatchObject([
      { source: 'tables/orders.json', status: 'stale', version: '1', error: expect.stringMatching(/message.fields\[1\].type: unknown column type "FOO"/) },
    ]);
    const logged = lines.filter((l) => l['file'] === 'tables/orders.json' && l['level'] === 50);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ field: 'message.fields[1].type', problem: expect.stringMatching(/unknown column type "FOO"/) });
  });

  it('reports two files defining one table and logs the conflict once', async () => {
    const source = new ScriptedSource({ changed: [{ source: 'a.json', text: text('t'), version: '1' }], removed: [] });
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events = recordEvents(catalog);
    await catalog.start();
    source.send({ changed: [{ source: 'b.json', text: text('T'), version: '1' }] });
    source.send({ changed: [{ source: 'c.json', text: text('other'), version: '1' }] });
    expect(events).toEqual(['added public.t(events)', 'removed public.t(events)', 'added public.other(events)']);
    expect(catalog.status().map((s) => s.status)).toEqual(['error', 'error', 'ok']);
    const conflicts = lines.filter((l) => typeof l['problem'] === 'string' && /also defined by/.test(l['problem'] as string));
    expect(conflicts.map((l) => l['file'])).toEqual(['a.json', 'b.json']);
  });

  it('keeps every table while its source cannot be listed, shows them stale, and logs each new error once', async () => {
    const source = new ScriptedSource({
      changed: [
        { source: 'a.json', text: text('a'), version: '1' },
        { source: 'bad.json', text: '{', version: '1' },
      ],
      removed: [],
    });
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events = recordEvents(catalog);
    await catalog.start();
    const updates: unknown[] = [];
    catalog.on('changes', (changes) => updates.push(changes));

    source.emit('unavailable', new Error('cannot list scripted: boom'));
    source.emit('unavailable', new Error('cannot list scripted: boom'));
    expect(catalog.tables().map((t) => t.tableName)).toEqual(['a']);
    expect(catalog.status().map((s) => [s.source, s.status, s.error])).toEqual([
      ['a.json', 'stale', 'cannot list scripted: boom'],
      ['bad.json', 'error', expect.stringMatching(/^cannot list scripted: boom; bad.json: not valid JSON/)],
    ]);
    expect(updates).toEqual([[]]);
    source.emit('unavailable', new Error('cannot list scripted: worse'));
    const warnings = lines.filter((l) => l['level'] === 40 && l['location'] === 'scripted');
    expect(warnings.map((l) => l['msg'])).toEqual([
      expect.stringMatching(/: cannot list scripted: boom$/),
      expect.stringMatching(/: cannot list scripted: worse$/),
    ]);

    source.emit('available');
    expect(catalog.status().map((s) => [s.source, s.status])).toEqual([
      ['a.json', 'ok'],
      ['bad.json', 'error'],
    ]);
    expect(updates).toEqual([[], [], []]);
    expect(lines.filter((l) => l['msg'] === 'table definition location can be listed again')).toHaveLength(1);
    expect(events).toEqual(['added public.a(events)']);
  });

  it('shows the location itself when it cannot be listed and nothing was read from it', async () => {
    const source = new ScriptedSource({ changed: [], removed: [] });
    const catalog = new Catalog({ source, defaultSchema: 'public', logger: pino({ level: 'silent' }) });
    await catalog.start();
    source.emit('unavailable', new Error('cannot list scripted: boom'));
    expect(catalog.status()).toMatchObject([{ source: 'scripted', schemaName: null, tableName: null, status: 'error', error: 'cannot list scripted: boom' }]);
    source.emit('available');
    expect(catalog.status()).toEqual([]);
  });

  it('keeps a definition that cannot be read at its last good version, and clears the error once it is read', async () => {
    const source = new ScriptedSource({ changed: [{ source: 'a.json', text: text('a'), version: '1' }], removed: [] });
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events = recordEvents(catalog);
    await catalog.start();
    source.send({ unreadable: [{ source: 'a.json', error: 'cannot read table definition file a.json: EACCES: permission denied' }] });
    expect(catalog.status()).toMatchObject([
      { source: 'a.json', status: 'stale', version: '1', error: 'cannot read table definition file a.json: EACCES: permission denied' },
    ]);
    expect(lines.filter((l) => l['level'] === 40 && l['file'] === 'a.json')).toHaveLength(1);
    source.send({ changed: [{ source: 'a.json', text: text('a'), version: '1' }] });
    expect(catalog.status()).toMatchObject([{ source: 'a.json', status: 'ok', error: null }]);
    expect(events).toEqual(['added public.a(events)']);
  });

  it('does not start when its source cannot be read', async () => {
    const catalog = createCatalog(loadConfig({ env: {}, flags: { tables: join(tmpdir(), 'kinesql-no-such-dir') } }), pino({ level: 'silent' }));
    await expect(catalog.start()).rejects.toThrow(/cannot be read/);
  });
});

describe('createCatalog over a directory', () => {
  const catalogs: Catalog[] = [];
  afterEach(async () => {
    await Promise.all(catalogs.splice(0).map((c) => c.stop()));
  });

  it('serves the directory definitions, resolving avro schema files next to them, and follows edits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinesql-catalog-'));
    writeFileSync(join(dir, 'clicks.avsc'), JSON.stringify({ type: 'record', name: 'Click', fields: [{ name: 'url', type: 'string' }] }));
    writeFileSync(
      join(dir, 'clicks.json'),
      JSON.stringify({
        tableName: 'clicks',
        schemaName: 'default',
        streamName: 'clicks',
        message: { dataFormat: 'avro', dataSchema: 'clicks.avsc', fields: [{ name: 'url', type: 'varchar', mapping: 'url' }] },
      }),
    );
    writeFileSync(join(dir, 'raw.json'), text('raw_events'));
    const file = join(dir, 'kinesql.properties');
    writeFileSync(file, `kinesis.table-description-dir=${dir}\nkinesis.default-schema=streams\n`);
    const catalog = createCatalog(loadConfig({ file, env: {} }), pino({ level: 'silent' }));
    catalogs.push(catalog);
    const events = recordEvents(catalog);
    await catalog.start();

    expect(catalog.tables().map((t) => `${t.schemaName}.${t.tableName}:${t.message.dataFormat}`)).toEqual(['streams.clicks:avro', 'streams.raw_events:dummy']);
    expect(JSON.parse(catalog.tables()[0]?.message.dataSchema ?? '{}')).toMatchObject({ name: 'Click' });

    rmSync(join(dir, 'raw.json'));
    await vi.waitFor(() => expect(events).toContain('removed streams.raw_events(events)'), { timeout: 15_000, interval: 25 });
    expect(catalog.status().map((s) => [s.source, s.status])).toEqual([[join(dir, 'clicks.json'), 'ok']]);
  });
});

describe('Catalog over a directory that goes away', () => {
  it('keeps serving its tables while the directory is moved away, shows them stale with the error, and resumes when it is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinesql-catalog-'));
    writeFileSync(join(dir, 'orders.json'), text('orders'));
    writeFileSync(join(dir, 'users.json'), text('users'));
    // the re-scan timer is kept out of the way; passes are run with rescan() or come from the watcher
    const source = new DirectorySource(dir, { debounceMs: 100, rescanIntervalMs: 60_000 });
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events = recordEvents(catalog);
    await catalog.start();
    try {
      renameSync(dir, `${dir}-away`);
      await source.rescan();
      // time for the watcher's events of the move to be handled too (they removed every table before)
      await new Promise((resolve) => setTimeout(resolve, 300));
      await source.rescan();
      expect(events).toEqual(['added public.orders(events)', 'added public.users(events)']);
      expect(catalog.tables().map((t) => t.tableName)).toEqual(['orders', 'users']);
      const problem = `cannot list table definition directory ${dir}: ENOENT: no such file or directory, scandir '${dir}'`;
      expect(catalog.status().map((s) => [s.tableName, s.status, s.error])).toEqual([
        ['orders', 'stale', problem],
        ['users', 'stale', problem],
      ]);
      const warnings = lines.filter((l) => l['level'] === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ location: dir, msg: expect.stringContaining(problem) });

      renameSync(`${dir}-away`, dir);
      await source.rescan();
      expect(catalog.status().map((s) => [s.tableName, s.status, s.error])).toEqual([
        ['orders', 'ok', null],
        ['users', 'ok', null],
      ]);
      expect(events).toEqual(['added public.orders(events)', 'added public.users(events)']);
    } finally {
      await catalog.stop();
    }
  });
});
