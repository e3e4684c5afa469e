import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import { readsNoRows, scanBoundsFor } from '../../src/sql/scan-bounds.js';

const start = new Date('2026-03-01T12:00:00.000Z');
const table = { schema: 'public', name: 'events' };

function bounds(sql: string) {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) throw new Error(parsed.error.message);
  return scanBoundsFor(parsed[0]!.node, table, start);
}

describe('scan bounds from a SELECT', () => {
  beforeAll(async () => {
    await initParser();
  });

  it('takes a lower time bound from >=, >, = and BETWEEN, with now() and interval arithmetic', () => {
    expect(bounds(`select * from events where _message_timestamp >= now() - interval '5 minutes'`)).toEqual({
      fromTime: new Date('2026-03-01T11:55:00.000Z'),
    });
    expect(bounds(`select * from events e where e._message_timestamp > current_timestamp - '1 hour 30 min'::interval`)).toEqual({
      fromTime: new Date('2026-03-01T10:30:00.000Z'),
    });
    expect(bounds(`select * from events where _message_timestamp between '2026-02-01T00:00:00Z' and '2026-02-02T00:00:00Z'`)).toEqual({
      fromTime: new Date('2026-02-01T00:00:00.000Z'),
    });
    expect(bounds(`select * from events where timestamptz '2026-02-01 10:00:00+02' <= _message_timestamp`)).toEqual({
      fromTime: new Date('2026-02-01T08:00:00.000Z'),
    });
  });

  it('reads a literal without a zone as its earliest possible instant', () => {
    const found = bounds(`select * from events where _message_timestamp >= '2026-02-01 10:00:00'`);
    expect(found!.fromTime!.getTime()).toBeLessThanOrEqual(new Date('2026-02-01T10:00:00-14:00').getTime());
  });

  it('takes shards, partition keys and sequence numbers, and intersects repeated conditions', () => {
    expect(bounds(`select * from events where _shard_id in ('shardId-1', 'shardId-2') and _shard_id = 'shardId-2'`)).toEqual({ shardIds: ['shardId-2'] });
    expect(bounds(`select * from events where _partition_key = 'user-7' and n > 3`)).toEqual({ partitionKeys: ['user-7'] });
    const seq = '49590338271490256608559692538361571095921575989136588898';
    expect(bounds(`select * from events where _shard_sequence_id > '${seq}'`)).toEqual({ fromSequence: { sequenceNumber: seq, inclusive: false } });
    expect(bounds(`select * from events where _shard_sequence_id >= '${seq}'`)).toEqual({ fromSequence: { sequenceNumber: seq, inclusive: true } });
  });

  it('gives no bound it cannot be sure of', () => {
    expect(bounds(`select * from events where _message_timestamp >= now() - interval '5 minutes' or n = 1`)).toBeUndefined();
    expect(bounds(`select * from events where _message_timestamp >= $1`)).toBeUndefined();
    expect(bounds(`select * from events where _message_timestamp < now() - interval '5 minutes'`)).toBeUndefined();
    expect(bounds(`select * from events where _shard_sequence_id > '12'`)).toBeUndefined();
    expect(bounds(`select * from events where _message_timestamp >= date_trunc('day', now())`)).toBeUndefined();
    // Unqualified columns in a join may belong to the other relation.
    expect(bounds(`select * from events join other using (id) where _partition_key = 'k'`)).toBeUndefined();
  });

  it('merges several appearances of the table to the loosest bound', () => {
    expect(
      bounds(
        `select * from events a where a._message_timestamp >= '2026-03-01T11:00:00Z'
         union all select * from events b where b._message_timestamp >= '2026-03-01T10:00:00Z'`,
      ),
    ).toEqual({ fromTime: new Date('2026-03-01T10:00:00.000Z') });
    expect(
      bounds(`select * from events a where a._message_timestamp >= '2026-03-01T11:00:00Z' and exists (select 1 from events b where b.n = a.n)`),
    ).toBeUndefined();
    expect(bounds(`select * from events a join events b on a.n = b.n where a._shard_id = 's1' and b._shard_id = 's2'`)).toEqual({ shardIds: ['s1', 's2'] });
  });
});

describe('statements that read no rows of a table', () => {
  beforeAll(async () => {
    await initParser();
  });

  const readsNone = (sql: string, name: { schema?: string; name: string } = table): boolean => {
    const parsed = parseStatements(sql);
    if (isParseFailure(parsed)) throw new Error(parsed.error.message);
    return readsNoRows(parsed[0]!.node, name);
  };

  it('sees constant-false and NULL WHERE clauses, LIMIT 0, EXPLAIN without ANALYZE and PREPARE', () => {
    for (const sql of [
      'select * from events where false',
      'select * from events where 1 <> 1',
      `select * from events where 'a' = 'b'`,
      'select * from events where not (1 = 1)',
      'select * from events where 1 = 0 and n > 3',
      'select * from events where 1 = 0 or false',
      'select * from events where null',
      'select * from events limit 0',
      'select * from events fetch first 0 rows only',
      'select * from events where n > 1 union all select * from events where false limit 0',
      'select * from (select * from events where false) e join other o on true',
      'explain select * from events',
      'explain (analyze off, costs off) select * from events',
      'prepare p as select * from events',
    ]) {
      expect(readsNone(sql), sql).toBe(true);
    }
  });

  it('counts anything it cannot be sure of as a read', () => {
    for (const sql of [
      'select * from events',
      'select * from events where n > 1',
      'select * from events where 1 = 0 or n > 1',
      `select * from events where 'a' < 'b' and false or true`,
      `select * from events where 'a' > 'b'`,
      'select * from events limit 1',
      'select * from events where false union all select * from events',
      'select (select count(*) from events) where false',
      'explain analyze select * from events',
      'explain (analyze) select * from events',
      'declare c cursor for select * from events where n > 1',
    ]) {
      expect(readsNone(sql), sql).toBe(false);
    }
  });

  it('matches a name written without a schema to the table in any schema', () => {
    expect(readsNone('select * from events where false', { name: 'events' })).toBe(true);
    expect(readsNone('select * from events where false union all select * from other.events', { name: 'events' })).toBe(false);
  });
});
