import { describe, expect, it } from 'vitest';
import { partitionName, partitionSeconds } from '../../src/store/time-partitions.js';

describe('time partition widths and names', () => {
  it('split a window in at least 24 partitions of a round width, a minute at the least and a day at the most', () => {
    expect(partitionSeconds(86_400)).toBe(3_600);
    expect(partitionSeconds(7 * 86_400)).toBe(6 * 3_600);
    expect(partitionSeconds(30 * 86_400)).toBe(86_400);
    expect(partitionSeconds(2 * 3_600)).toBe(300);
    expect(partitionSeconds(60)).toBe(60);
    expect(partitionSeconds(6)).toBe(60);
    expect(partitionSeconds(undefined)).toBe(86_400);
  });

  it('name a partition by its table and start, distinct for tables of the same name in two schemas', () => {
    const start = new Date('2026-12-01T13:05:07Z');
    expect(partitionName({ schemaName: 'public', tableName: 'orders' }, start)).toMatch(/^orders_[0-9a-f]{6}_20261201_130507$/);
    expect(partitionName({ schemaName: 'public', tableName: 'orders' }, start)).not.toBe(partitionName({ schemaName: 'shop', tableName: 'orders' }, start));
    expect(partitionName({ schemaName: 'public', tableName: 'x'.repeat(63) }, start).length).toBeLessThanOrEqual(63);
  });
});
