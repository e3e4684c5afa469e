import { describe, expect, it } from 'vitest';
import { compareWithStream, type ShownRow, type StreamFact } from './exactness.js';

/** The checker the fault tests rely on finds each kind of inexactness, and nothing in an exact table. */
const parents = new Map([
  ['parent', []],
  ['child', ['parent']],
]);
const facts: StreamFact[] = [
  { shardId: 'parent', sequenceNumber: '10', partitionKey: 'a' },
  { shardId: 'parent', sequenceNumber: '11', partitionKey: 'b' },
  { shardId: 'parent', sequenceNumber: '12', partitionKey: 'a' },
  { shardId: 'child', sequenceNumber: '20', partitionKey: 'a' },
  { shardId: 'child', sequenceNumber: '21', partitionKey: 'b' },
];
/** Loaded as kinesql loads: per shard in order, the parent's batch committed before the child's. */
const exact: ShownRow[] = [
  { shardId: 'parent', sequenceNumber: '10', partitionKey: 'a', segment: 0, loadedBy: 100n },
  { shardId: 'parent', sequenceNumber: '11', partitionKey: 'b', segment: 1, loadedBy: 100n },
  { shardId: 'parent', sequenceNumber: '12', partitionKey: 'a', segment: 2, loadedBy: 101n },
  { shardId: 'child', sequenceNumber: '20', partitionKey: 'a', segment: 0, loadedBy: 102n },
  { shardId: 'child', sequenceNumber: '21', partitionKey: 'b', segment: 1, loadedBy: 102n },
];
const stream = { facts, parents };
const clean = { lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] };

describe('the exactness checker', () => {
  it('finds nothing wrong with every record loaded once, in order', () => {
    expect(compareWithStream(stream, exact)).toEqual({ records: 5, rows: 5, ...clean });
  });

  it('finds a lost record, a duplicated one and one the stream never held', () => {
    const rows = [...exact.filter((row) => row.sequenceNumber !== '11'), { ...exact[0]!, segment: 5, loadedBy: 103n }];
    rows.push({ shardId: 'child', sequenceNumber: '99', partitionKey: 'c', segment: 2, loadedBy: 103n });
    const found = compareWithStream(stream, rows);
    expect(found.lost).toEqual(['parent/11']);
    expect(found.duplicated).toEqual(['parent/10']);
    expect(found.unknown).toEqual(['child/99']);
  });

  it('finds a hole filled later: out of order in its shard and its key', () => {
    // Record 10 was lost and loaded again after 12 (a later transaction, a later segment).
    const rows = exact.map((row) => (row.sequenceNumber === '10' ? { ...row, segment: 3, loadedBy: 104n } : row));
    const found = compareWithStream(stream, rows);
    expect(found).toMatchObject({ lost: [], duplicated: [], outOfOrderShards: ['parent'], outOfOrderKeys: ['a'] });
  });

  it("finds a child's record loaded before its parent's record of the same key", () => {
    const rows = exact.map((row) => (row.shardId === 'child' ? { ...row, loadedBy: 99n } : row));
    expect(compareWithStream(stream, rows)).toMatchObject({ outOfOrderShards: [], outOfOrderKeys: ['a', 'b'] });
  });
});
