import { describe, expect, it } from 'vitest';
import { formatLsn, parseLsn, recordEnd } from '../../src/engine/wal-position.js';

const SEGMENT = 16n * 1024n * 1024n;

describe('WAL positions', () => {
  it('reads and writes LSNs as PostgreSQL prints them', () => {
    expect(parseLsn('0/3016270')).toBe(0x3016270n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(() => parseLsn('not/a position')).toThrow(/not a WAL position/);
  });

  it('takes an insert position just after a page header for the record end on the page boundary', () => {
    const page = 5n * 8192n + SEGMENT;
    expect(recordEnd(page + 24n, SEGMENT)).toBe(page);
    expect(recordEnd(2n * SEGMENT + 40n, SEGMENT)).toBe(2n * SEGMENT);
    // Anywhere else it is the end of the last record already.
    expect(recordEnd(page + 40n, SEGMENT)).toBe(page + 40n);
    expect(recordEnd(page + 1000n, SEGMENT)).toBe(page + 1000n);
  });
});
