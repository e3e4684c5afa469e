import { describe, expect, it } from 'vitest';
import { joinedBytes } from '../../src/wire/joined-bytes.js';

describe('joinedBytes', () => {
  it('is a view over messages that lie side by side in one read', () => {
    const read = Buffer.from('PPPPBBBEES');
    const parts = [read.subarray(0, 4), read.subarray(4, 7), read.subarray(7, 9), read.subarray(9)];
    const joined = joinedBytes(parts);
    expect(joined.toString()).toBe('PPPPBBBEES');
    read[0] = 0x51;
    expect(joined.toString()).toBe('QPPPBBBEES');
  });

  it('copies messages that do not lie side by side, in their order', () => {
    const read = Buffer.from('PPPPBBBEES');
    const rewritten = Buffer.from('pp');
    expect(joinedBytes([read.subarray(4, 7), read.subarray(0, 4)]).toString()).toBe('BBBPPPP');
    expect(joinedBytes([rewritten, read.subarray(4)]).toString()).toBe('ppBBBEES');
    expect(joinedBytes([])).toHaveLength(0);
  });
});
