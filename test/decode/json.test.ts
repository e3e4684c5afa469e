import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createDecoder } from '../../src/decode/index.js';
import { mayHoldLossyNumber } from '../../src/decode/json.js';
import { bytes, messageDefinition, type FieldSpec } from './helpers.js';

function decodeJson(specs: FieldSpec[], payload: string) {
  return createDecoder(messageDefinition('json', specs)).decode(bytes(payload));
}

describe('json decoder', () => {
  it('follows slash paths and array indexes', () => {
    const row = decodeJson(
      [
        { type: 'varchar', mapping: 'user/name' },
        { type: 'varchar', mapping: 'items[1]/sku' },
        { type: 'integer', mapping: 'items/0/qty' },
        { type: 'integer', mapping: 'm[1][0]' },
      ],
      '{"user":{"name":"ann"},"items":[{"sku":"a","qty":3},{"sku":"b"}],"m":[[1],[2]]}',
    );
    expect(row).toEqual({ values: ['ann', 'b', '3', '2'], valid: true });
  });

  it('keeps 64-bit integers and long decimals exact', () => {
    const row = decodeJson(
      [
        { type: 'bigint', mapping: 'id' },
        { type: 'varchar', mapping: 'id' },
        { type: 'decimal(30,10)', mapping: 'amount' },
        { type: 'numeric', mapping: 'tiny' },
      ],
      '{"id": 1234567890123456789, "amount": 12345678901234567890.0123456789, "tiny": 1e-30}',
    );
    expect(row.values).toEqual(['1234567890123456789', '1234567890123456789', '12345678901234567890.0123456789', '0.000000000000000000000000000001']);
    expect(row.valid).toBe(true);
  });

  it('keeps the JSON of a subtree for jsonb and text columns, big numbers included', () => {
    const row = decodeJson(
      [
        { type: 'json', mapping: 'entities' },
        { type: 'varchar', mapping: 'entities' },
      ],
      '{"entities": {"ids": [1234567890123456789, 2], "tag": "x\\ty"}}',
    );
    expect(row.values[0]).toBe('{"ids":[1234567890123456789,2],"tag":"x\\ty"}');
    expect(row.values[1]).toBe(row.values[0]);
    expect(JSON.parse(row.values[0] as string)).toMatchObject({ tag: 'x\ty' });
  });

  it('gives NULL for a missing path but keeps the row valid', () => {
    expect(
      decodeJson(
        [
          { type: 'bigint', mapping: 'a/b' },
          { type: 'varchar', mapping: 'c' },
        ],
        '{"a":{},"c":null}',
      ),
    ).toEqual({ values: [null, null], valid: true });
  });

  it('makes a present value that does not convert NULL and the row invalid', () => {
    const row = decodeJson(
      [
        { type: 'smallint', mapping: 'big' },
        { type: 'integer', mapping: 'frac' },
        { type: 'varchar', mapping: 'ok' },
        { type: 'varchar(3)', mapping: 'long' },
      ],
      '{"big": 40000, "frac": 1.5, "ok": "fine", "long": "abcd"}',
    );
    expect(row).toEqual({ values: [null, null, 'fine', null], valid: false });
  });

  it('rounds numeric to its scale and refuses values beyond its precision', () => {
    const row = decodeJson(
      [
        { type: 'decimal(5,2)', mapping: 'a' },
        { type: 'decimal(5,2)', mapping: 'b' },
        { type: 'decimal(5,2)', mapping: 'c' },
      ],
      '{"a": 1.005, "b": -2.5e1, "c": 1234.5}',
    );
    expect(row).toEqual({ values: ['1.01', '-25.00', null], valid: false });
  });

  it('rejects jsonb values PostgreSQL cannot store (\\u0000)', () => {
    const row = decodeJson(
      [
        { type: 'json', mapping: 'a' },
        { type: 'varchar', mapping: 'b' },
      ],
      '{"a": {"x": "nul\\u0000"}, "b": "q\\u0000"}',
    );
    expect(row).toEqual({ values: [null, null], valid: false });
  });

  it('marks a message that is not JSON invalid with every field NULL', () => {
    expect(decodeJson([{ type: 'varchar', mapping: 'a' }], '{"a": ')).toEqual({ values: [null], valid: false });
    expect(decodeJson([{ type: 'varchar', mapping: 'a' }], '')).toEqual({ values: [null], valid: false });
  });

  it('uses the last value of a duplicated key, on both parsing paths', () => {
    expect(decodeJson([{ type: 'bigint', mapping: 'a' }], '{"a": 1, "a": 2}').values).toEqual(['2']);
    expect(decodeJson([{ type: 'bigint', mapping: 'a' }], '{"a": 1, "a": 12345678901234567}').values).toEqual(['12345678901234567']);
  });

  it('converts booleans, doubles and timestamps', () => {
    const row = decodeJson(
      [
        { type: 'boolean', mapping: 'b' },
        { type: 'double', mapping: 'd' },
        { type: 'real', mapping: 'r' },
        { type: 'timestamp with time zone', mapping: 't', dataFormat: 'iso8601' },
        { type: 'timestamp', mapping: 'ms', dataFormat: 'milliseconds-since-epoch' },
        { type: 'date', mapping: 'tw', dataFormat: 'rfc2822' },
      ],
      '{"b": true, "d": 1.5, "r": 0.1, "t": "2024-02-29T23:30:00.123+01:00", "ms": 1700000000123, "tw": "Wed Aug 27 13:08:45 +0000 2008"}',
    );
    expect(row).toEqual({
      values: ['true', '1.5', '0.1', '2024-02-29 22:30:00.123000+00', '2023-11-14 22:13:20.123000', '2008-08-27'],
      valid: true,
    });
  });

  it('refuses bad definitions at creation, naming the field', () => {
    expect(() => createDecoder(messageDefinition('json', [{ name: 'x', type: 'varchar', mapping: 'a//b' }]))).toThrow(/field "x"/);
    expect(() => createDecoder(messageDefinition('json', [{ name: 'when', type: 'timestamp', dataFormat: 'yyyy' }]))).toThrow(
      /field "when".*unknown dataFormat/,
    );
    expect(() => createDecoder(messageDefinition('json', [{ name: 'when', type: 'timestamp', dataFormat: 'custom-date-time' }]))).toThrow(/field "when"/);
  });
});

describe('which JSON texts take the lossless parser', () => {
  it('those with a run of 16 digits or dots, or a digit before an exponent letter', () => {
    const pattern = /[0-9.]{16}|[0-9][eE]/;
    const text = fc.array(fc.constantFrom('0', '7', '9', '.', 'e', 'E', ' ', '"', ':', '-', 'x', '/', ':'), { maxLength: 40 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(text, (value) => {
        expect(mayHoldLossyNumber(value)).toBe(pattern.test(value));
      }),
      { numRuns: 2000 },
    );
    expect(['{"id": 1234567890123456}', '{"x": 1e5}', '{"x": 1.5E-3}', '{"s": "1234567.89012345"}'].map(mayHoldLossyNumber)).toEqual([true, true, true, true]);
    expect(['{"id": 123456789012345}', '{"e": "e5"}', '{"x": -0.5, "y": "E"}'].map(mayHoldLossyNumber)).toEqual([false, false, false]);
  });
});
