import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const definition = {
  tableName: 'docs',
  streamName: 'docs',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'id', type: 'INTEGER', mapping: 'id' },
      { name: 'doc', type: 'JSON', mapping: 'doc' },
    ],
  },
};

describe('a record whose value the engine refuses', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'docs', shards: 1 }], definitions: { 'docs.json': definition } });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('becomes an invalid row and never takes the table down', async () => {
    const good = (id: number) => JSON.stringify({ id, doc: { x: `fine ${id}` } });
    await harness.put('docs', [
      { data: good(1) },
      // A number PostgreSQL's numeric cannot hold, which only the engine finds out.
      { data: '{"id": 2, "doc": {"x": 1e200000}}' },
      { data: good(3) },
      // JSON escapes jsonb cannot store, which the decoder already knows: a NUL and a lone surrogate.
      { data: '{"id": 4, "doc": {"x": "a\\u0000b", "y": "\\udc00"}}' },
      ...Array.from({ length: 40 }, (_, i) => ({ data: good(5 + i) })),
    ]);
    const client = await harness.connect();
    try {
      const rows = (await client.query('select id, doc, _message_valid as valid from docs order by _shard_sequence_id::numeric')).rows as {
        id: number | null;
        doc: unknown;
        valid: boolean;
      }[];
      expect(rows).toHaveLength(44);
      expect(rows.filter((row) => !row.valid)).toHaveLength(2);
      // The engine refused the first record's value: the whole record is invalid, its data columns NULL.
      expect(rows[1]).toMatchObject({ id: null, doc: null, valid: false });
      // The decoder already knew those escapes could not be stored: only that field is NULL.
      expect(rows[3]).toMatchObject({ id: 4, doc: null, valid: false });
      expect(rows.filter((row) => row.valid).map((row) => row.id)).toEqual([1, 3, ...Array.from({ length: 40 }, (_, i) => 5 + i)]);
      // The raw message is still there to look at.
      expect(
        (await client.query(`select _message from docs where not _message_valid order by 1`)).rows.map((row: { _message: string }) => row._message),
      ).toEqual(['{"id": 2, "doc": {"x": 1e200000}}', '{"id": 4, "doc": {"x": "a\\u0000b", "y": "\\udc00"}}']);
      // Later records load as usual.
      await harness.put('docs', [{ data: good(100) }]);
      expect((await client.query('select count(*)::int as n, count(*) filter (where not _message_valid)::int as invalid from docs')).rows).toEqual([
        { n: 45, invalid: 2 },
      ]);
      expect((await client.query(`select invalid_records::int as invalid from kinesql.streams where table_name = 'docs'`)).rows).toEqual([{ invalid: 2 }]);
    } finally {
      await client.end();
    }
  });
});
