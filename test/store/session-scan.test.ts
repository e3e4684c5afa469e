import { describe, expect, it } from 'vitest';
import { SessionSettingError } from '../../src/config/session-properties.js';
import { sessionScan } from '../../src/store/session-scan.js';

const now = new Date('2026-03-01T12:00:00.000Z');
const defaults = { iterFromTimestamp: true, iterOffsetSeconds: 86_400 };
const settings = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe("a session's kinesis.* settings", () => {
  it('leave the table window alone when none is set', () => {
    expect(sessionScan(undefined, defaults, now)).toEqual({});
    expect(sessionScan(settings({ timezone: 'UTC' }), defaults, now)).toEqual({});
  });

  it('move the window by offset seconds, under either spelling', () => {
    expect(sessionScan(settings({ 'kinesis.iter_offset_seconds': '3600' }), defaults, now).window).toEqual({ start: new Date('2026-03-01T11:00:00.000Z') });
    expect(sessionScan(settings({ 'kinesis.starting_offset_seconds': '60' }), defaults, now).window).toEqual({ start: new Date('2026-03-01T11:59:00.000Z') });
  });

  it('start at a given timestamp, or at TRIM_HORIZON when from-timestamp is off', () => {
    expect(sessionScan(settings({ 'kinesis.starting_timestamp': '2026-02-28 08:30:00.000' }), defaults, now).window).toEqual({
      start: new Date('2026-02-28T08:30:00.000Z'),
    });
    expect(sessionScan(settings({ 'kinesis.iter_from_timestamp': 'false', 'kinesis.iter_offset_seconds': '60' }), defaults, now).window).toEqual({
      start: undefined,
    });
    expect(sessionScan(settings({ 'kinesis.start_from_timestamp': 'true' }), { iterFromTimestamp: false, iterOffsetSeconds: 600 }, now).window).toEqual({
      start: new Date('2026-03-01T11:50:00.000Z'),
    });
  });

  it('override batch size and max batches, and name a setting that is not usable', () => {
    expect(sessionScan(settings({ 'kinesis.max_batches': '3', 'kinesis.batch_size': '50000' }), defaults, now).read).toEqual({
      maxBatches: 3,
      batchSize: 10_000,
    });
    expect(() => sessionScan(settings({ 'kinesis.iter_offset_seconds': 'soon' }), defaults, now)).toThrow(SessionSettingError);
    expect(() => sessionScan(settings({ 'kinesis.iter_offset_seconds': 'soon' }), defaults, now)).toThrow(/kinesis\.iter_offset_seconds/);
  });

  it('may reach back no further than the operator allows (kinesql.max-window)', () => {
    const capped = { ...defaults, maxWindowSeconds: 120 };
    const twoMinutesAgo = new Date(now.getTime() - 120_000);
    expect(sessionScan(settings({ 'kinesis.iter_start_timestamp': twoMinutesAgo.toISOString() }), capped, now).window).toEqual({ start: twoMinutesAgo });
    for (const asked of <Record<string, string>[]>[
      { 'kinesis.iter_start_timestamp': new Date(now.getTime() - 121_000).toISOString() },
      { 'kinesis.iter_offset_seconds': '121' },
      { 'kinesis.iter_from_timestamp': 'false' },
    ]) {
      expect(() => sessionScan(settings(asked), capped, now)).toThrow(/kinesql\.max-window/);
      expect(() => sessionScan(settings(asked), capped, now)).toThrow(expect.objectContaining({ sqlstate: '42501' }));
    }
  });
});
