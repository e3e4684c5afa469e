import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { initParser, parseChannel } from '../../src/sql/parse.js';
import { scanChannel } from '../../src/sql/tokens.js';
import { StatementExecutor } from '../../src/wire/statement-executor.js';
import type { StreamStore } from '../../src/store/stream-store.js';

// Every string the grammar parses and the lexer splits, as their diagnostics channels tell.
const parsed: string[] = [];
const scanned: string[] = [];
const onParse = (message: unknown): void => {
  parsed.push((message as { sql: string }).sql);
};
const onScan = (message: unknown): void => {
  scanned.push((message as { sql: string }).sql);
};

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
    subscribe(parseChannel.name, onParse);
    subscribe(scanChannel.name, onScan);
  });

  afterAll(() => {
    unsubscribe(parseChannel.name, onParse);
    unsubscribe(scanChannel.name, onScan);
  });

  beforeEach(() => {
    parsed.length = 0;
    scanned.length = 0;
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
    expect(parsed).toEqual([sql]);
    // The three rewrites share one pass of the lexer.
    expect(scanned).toEqual([sql]);
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
    expect(parsed).toEqual([analyzed.sql]);
    expect(scanned).toEqual([analyzed.sql]);
  });

  it('a string sent again is planned at once from the first analysis, without a parse or a promise', () => {
    const statements = executor();
    const first = statements.analyze('select page from clicks where page = $2');
    expect(first).not.toBeInstanceOf(Promise);
    expect(statements.analyze('select page from clicks where page = $2')).toBe(first);
    expect(parsed).toEqual(['select page from clicks where page = $2']);
  });

  it('without a lexer pass at all when nothing could need rewriting', async () => {
    const statements = executor();
    const analyzed = await statements.analyze('select page from clicks where page = $1');
    expect(statements.prepareSql(analyzed, { searchPath: ['public'] })).toBe(analyzed.sql);
    expect(parsed).toEqual([analyzed.sql]);
    expect(scanned).toEqual([]);
  });

  it('a refused string is parsed once and never prepared', async () => {
    const statements = executor();
    for (let time = 0; time < 2; time += 1) {
      expect(() => statements.analyze('select 1; delete from clicks')).toThrow(expect.objectContaining({ sqlstate: '25006' }));
    }
    expect(parsed).toEqual(['select 1; delete from clicks']);
    expect(scanned).toEqual([]);
  });
});
