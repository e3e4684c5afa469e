// In a folder of its own: it replaces libpg-query with vi.mock, which needs a module graph of its own, so test:unit runs
// it apart from the other unit tests (those share one graph: --no-isolate).
import * as libpgQuery from 'libpg-query';
import pino from 'pino';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { initParser } from '../../src/sql/parse.js';
import { StatementExecutor } from '../../src/wire/statement-executor.js';
import type { StreamStore } from '../../src/store/stream-store.js';

// Every call into libpg-query's parser and lexer goes through these spies.
vi.mock('libpg-query', async (importOriginal) => {
  const real = await importOriginal<typeof import('libpg-query')>();
  return { ...real, parseSync: vi.fn(real.parseSync), scanSync: vi.fn(real.scanSync) };
});

const parseSync = vi.mocked(libpgQuery.parseSync);
const scanSync = vi.mocked(libpgQuery.scanSync);

/** A stream table `public.clicks` whose `secret` column is hidden from `*`. */
const clicks = {
  definition: {
    schemaName: 'public',
    tableName: 'clicks',
    message: { fields: [{ name: 'page' }, { name: 'secret', hidden: true }] },
  },
};

function executor(): StatementExecutor {
  const engine = { serverVersionNum: 180000 } as unknown as Engine;
  const store = { list: () => [clicks] } as unknown as StreamStore;
  return new StatementExecutor(engine, store, pino({ level: 'silent' }), undefined, true);
}

describe('a client statement is parsed once', () => {
  beforeAll(async () => {
    await initParser();
  });

  beforeEach(() => {
    parseSync.mockClear();
    scanSync.mockClear();
  });

  it('from the read-only gate to the text the engine gets, with every rewrite applied', async () => {
    const statements = executor();
    const sql = `select *, version(), (select datname from pg_database d where d.daticulocale is null limit 1) from clicks where page = 'version()'`;
    const analyzed = await statements.analyze(sql);
    const engineText = statements.prepareSql(analyzed, { searchPath: ['public'] });
    expect(engineText).toBe(
      `select "page", kinesql.version(), (select datname from pg_database d where d.datlocale is null limit 1) from clicks where page = 'version()'`,
    );
    expect(analyzed.relations.map((relation) => relation.name)).toEqual(['pg_database', 'clicks']);
    expect(parseSync).toHaveBeenCalledTimes(1);
    // The three rewrites share one pass of the lexer.
    expect(scanSync).toHaveBeenCalledTimes(1);
  });

  it('once per string, however many statements it holds and however often the text is prepared', async () => {
    const statements = executor();
    const analyzed = await statements.analyze('set kinesis.max_batches = 3; select * from clicks; select c.* from clicks c');
    for (const searchPath of [['public'], ['other']]) statements.prepareSql(analyzed, { searchPath });
    expect(statements.prepareSql(analyzed, { searchPath: ['public'] })).toBe(
      'set kinesis.max_batches = 3; select "page" from clicks; select "c"."page" from clicks c',
    );
    expect(statements.prepareSql(analyzed, { searchPath: ['other'] })).toBe(analyzed.sql);
    expect(analyzed.properties).toEqual(new Map([['kinesis.max_batches', '3']]));
    expect(parseSync).toHaveBeenCalledTimes(1);
    expect(scanSync).toHaveBeenCalledTimes(1);
  });

  it('without a lexer pass at all when nothing could need rewriting', async () => {
    const statements = executor();
    const analyzed = await statements.analyze('select page from clicks where page = $1');
    expect(statements.prepareSql(analyzed, { searchPath: ['public'] })).toBe(analyzed.sql);
    expect(parseSync).toHaveBeenCalledTimes(1);
    expect(scanSync).not.toHaveBeenCalled();
  });

  it('a refused string is parsed once and never prepared', async () => {
    const statements = executor();
    await expect(statements.analyze('select 1; delete from clicks')).rejects.toMatchObject({ sqlstate: '25006' });
    expect(parseSync).toHaveBeenCalledTimes(1);
  });
});
