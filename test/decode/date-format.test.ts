import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/index.js';
import { bytes, messageDefinition, type FieldSpec } from './helpers.js';

function one(spec: FieldSpec, value: unknown): string | null {
  const row = createDecoder(messageDefinition('json', [{ ...spec, mapping: 'v' }])).decode(bytes(JSON.stringify({ v: value })));
  return row.valid ? (row.values[0] ?? null) : 'INVALID';
}

describe('date formats', () => {
  it('iso8601: dates, date-times, fractions, offsets, and time-only into time columns', () => {
    const f = { type: 'timestamp', dataFormat: 'iso8601' };
    expect(one(f, '2024-03-01')).toBe('2024-03-01 00:00:00.000000');
    expect(one(f, '2024-03-01T10:20:30.1234567Z')).toBe('2024-03-01 10:20:30.123456');
    expect(one(f, '2024-03-01T00:30:00-05:30')).toBe('2024-03-01 06:00:00.000000');
    expect(one(f, '2024-03-01 10:20')).toBe('2024-03-01 10:20:00.000000');
    expect(one(f, '2023-02-29')).toBe('INVALID');
    expect(one(f, 'yesterday')).toBe('INVALID');
    expect(one({ type: 'time', dataFormat: 'iso8601' }, '23:59:58.5')).toBe('23:59:58.500000');
    expect(one({ type: 'date', dataFormat: 'iso8601' }, '2024-03-01T23:00:00-02:00')).toBe('2024-03-02');
  });

  it("rfc2822: the Trino connector's form (EEE MMM dd HH:mm:ss Z yyyy) and the RFC form", () => {
    const f = { type: 'timestamp with time zone', dataFormat: 'rfc2822' };
    expect(one(f, 'Wed Aug 27 13:08:45 +0000 2008')).toBe('2008-08-27 13:08:45.000000+00');
    expect(one(f, 'Tue, 15 Nov 1994 08:12:31 -0230')).toBe('1994-11-15 10:42:31.000000+00');
    expect(one(f, 'Wed Aug 32 13:08:45 +0000 2008')).toBe('INVALID');
  });

  it('custom-date-time: Joda letters, literals, AM/PM, fractions, zones', () => {
    const custom = (hint: string, value: string, type = 'timestamp') => one({ type, dataFormat: 'custom-date-time', formatHint: hint }, value);
    expect(custom('yyyy-MM-dd HH:mm:ss.SSS', '2021-07-04 09:08:07.042')).toBe('2021-07-04 09:08:07.042000');
    expect(custom('dd/MMM/yyyy:HH:mm:ss Z', '10/Oct/2000:13:55:36 -0700')).toBe('2000-10-10 20:55:36.000000');
    expect(custom('MM/dd/yy hh:mm a', '12/31/99 12:05 AM')).toBe('1999-12-31 00:05:00.000000');
    expect(custom('MM/dd/yy hh:mm a', '01/02/03 01:05 pm')).toBe('2003-01-02 13:05:00.000000');
    expect(custom("yyyyMMdd'T'HHmmss", '20240102T030405')).toBe('2024-01-02 03:04:05.000000');
    expect(custom('EEEE, MMMM d, yyyy ZZ', 'Friday, March 1, 2024 +01:00')).toBe('2024-02-29 23:00:00.000000');
    expect(custom('yyyy-MM-dd HH:mm ZZZ', '2024-07-01 12:00 America/New_York')).toBe('2024-07-01 16:00:00.000000');
    expect(custom('yyyy-MM-dd', '2024-13-01')).toBe('INVALID');
    expect(custom('HH:mm', '25:00', 'time')).toBe('INVALID');
    expect(custom('HH:mm:ss', '07:30:00', 'time')).toBe('07:30:00.000000');
  });

  it('epoch seconds and milliseconds, from numbers and strings, exactly', () => {
    expect(one({ type: 'timestamp', dataFormat: 'seconds-since-epoch' }, 1700000000)).toBe('2023-11-14 22:13:20.000000');
    expect(one({ type: 'timestamp', dataFormat: 'seconds-since-epoch' }, '1700000000.000001')).toBe('2023-11-14 22:13:20.000001');
    expect(one({ type: 'timestamp', dataFormat: 'milliseconds-since-epoch' }, '-1')).toBe('1969-12-31 23:59:59.999000');
    expect(one({ type: 'date', dataFormat: 'milliseconds-since-epoch' }, 0)).toBe('1970-01-01');
    expect(one({ type: 'timestamp', dataFormat: 'seconds-since-epoch' }, 1e300)).toBe('INVALID');
    expect(one({ type: 'timestamp', dataFormat: 'seconds-since-epoch' }, 'soon')).toBe('INVALID');
  });

  it('refuses years PostgreSQL clients cannot round-trip as plain ISO dates', () => {
    expect(one({ type: 'date', dataFormat: 'iso8601' }, '0000-01-01')).toBe('INVALID');
    expect(one({ type: 'timestamp', dataFormat: 'seconds-since-epoch' }, 253402300800)).toBe('INVALID'); // year 10000
  });

  it('refuses unusable patterns at creation, naming the field', () => {
    const make = (hint: string) => () =>
      createDecoder(messageDefinition('json', [{ name: 'ts', type: 'timestamp', dataFormat: 'custom-date-time', formatHint: hint }]));
    expect(make("yyyy-MM-dd'T")).toThrow(/field "ts".*unterminated quote/);
    expect(make('yyyy-ww')).toThrow(/field "ts".*unsupported letter "w"/);
  });
});
