import { describe, expect, it } from 'vitest';
import { parseColumnType } from '../../src/catalog/column-type.js';
import fc from 'fast-check';
import { createConverter, createScalarConverters } from '../../src/decode/convert.js';
import { INVALID, type SourceValue } from '../../src/decode/source-value.js';
import { createDecoder } from '../../src/decode/index.js';
import { bytes, messageDefinition } from './helpers.js';

const convert = (type: string, value: SourceValue) => {
  const result = createConverter('f', parseColumnType(type))(value);
  return result === INVALID ? 'INVALID' : result;
};
const str = (value: string): SourceValue => ({ kind: 'string', value });
const num = (text: string): SourceValue => ({ kind: 'number', text });
const dbl = (value: number): SourceValue => ({ kind: 'float', value, single: false });

describe('conversions to PostgreSQL text input', () => {
  it('integers: exact, range-checked per width, integral values only', () => {
    expect(convert('tinyint', num('-32768'))).toBe('-32768');
    expect(convert('smallint', num('32768'))).toBe('INVALID');
    expect(convert('integer', num('2147483648'))).toBe('INVALID');
    expect(convert('bigint', num('9223372036854775807'))).toBe('9223372036854775807');
    expect(convert('bigint', num('9223372036854775808'))).toBe('INVALID');
    expect(convert('bigint', num('1.0e3'))).toBe('1000');
    expect(convert('bigint', num('1.5'))).toBe('INVALID');
    expect(convert('integer', str(' 42 '))).toBe('42');
    expect(convert('integer', str('4x'))).toBe('INVALID');
    expect(convert('bigint', num('1e400'))).toBe('INVALID');
  });

  it('floating point: shortest text, special values, overflow refused', () => {
    expect(convert('double', num('0.1'))).toBe('0.1');
    expect(convert('double', dbl(NaN))).toBe('NaN');
    expect(convert('double', str('-Infinity'))).toBe('-Infinity');
    expect(convert('double', num('1e400'))).toBe('INVALID');
    expect(convert('real', num('3.5e38'))).toBe('INVALID');
    expect(convert('real', { kind: 'float', value: Math.fround(0.1), single: true })).toBe('0.1');
    expect(convert('double', str('abc'))).toBe('INVALID');
  });

  it('numeric: unconstrained keeps every digit; special values only where PostgreSQL allows them', () => {
    expect(convert('numeric', num('-123456789012345678901234567890.5e-3'))).toBe('-123456789012345678901234567.8905');
    expect(convert('numeric', num('1.2e5'))).toBe('120000');
    expect(convert('numeric', str('NaN'))).toBe('NaN');
    expect(convert('numeric', str('Infinity'))).toBe('Infinity');
    expect(convert('decimal(4,1)', str('Infinity'))).toBe('INVALID');
    expect(convert('decimal(4,1)', num('-999.95'))).toBe('INVALID');
    expect(convert('decimal(4,1)', num('-999.94'))).toBe('-999.9');
    expect(convert('decimal(3,0)', num('0.5'))).toBe('1');
    expect(convert('numeric', num('1e200000'))).toBe('INVALID');
    expect(convert('numeric', num('1.50'))).toBe('1.50');
    expect(convert('decimal(6,3)', num('1.5'))).toBe('1.500');
    expect(convert('decimal(6,3)', num('-0.0004'))).toBe('0.000');
  });

  it('booleans from booleans and PostgreSQL boolean words', () => {
    expect(convert('boolean', { kind: 'boolean', value: false })).toBe('false');
    expect(convert('boolean', str('YES'))).toBe('true');
    expect(convert('boolean', num('0'))).toBe('false');
    expect(convert('boolean', str('maybe'))).toBe('INVALID');
  });

  it('text: no NUL, lone surrogates replaced; varchar/char lengths in characters with trailing-space truncation', () => {
    expect(convert('varchar', str('a\u0000b'))).toBe('INVALID');
    expect(convert('varchar', str('x\uD800y'))).toBe('x\uFFFDy');
    expect(convert('varchar(2)', str('😀é'))).toBe('😀é');
    expect(convert('varchar(2)', str('abc'))).toBe('INVALID');
    expect(convert('varchar(2)', str('ab   '))).toBe('ab');
    expect(convert('char(3)', str('abcd'))).toBe('INVALID');
    expect(convert('varchar', num('12345678901234567890'))).toBe('12345678901234567890');
  });

  it('bytea as \\x hex, jsonb as JSON text, uuid validated and normalised', () => {
    expect(convert('varbinary', { kind: 'bytes', value: Uint8Array.of(0, 255) })).toBe('\\x00ff');
    expect(convert('varbinary', str('hi'))).toBe('\\x6869');
    expect(convert('json', str('he said "x"'))).toBe('"he said \\"x\\""');
    expect(convert('json', num('12345678901234567890'))).toBe('12345678901234567890');
    expect(convert('json', str('nul\u0000'))).toBe('INVALID');
    expect(convert('json', dbl(Infinity))).toBe('INVALID');
    expect(convert('uuid', str('{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'))).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(convert('uuid', str('a0eebc999c0b4ef8bb6d6bb9bd380a11'))).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(convert('uuid', str('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'))).toBe('INVALID');
    expect(convert('uuid', { kind: 'bytes', value: new Uint8Array(16).fill(0xab) })).toBe('abababab-abab-abab-abab-abababababab');
  });

  it('temporal values from Avro logical types', () => {
    expect(convert('date', { kind: 'instant', seconds: 86_400 * 365, micros: 0 })).toBe('1971-01-01');
    expect(convert('time', { kind: 'timeOfDay', micros: 3_723_000_001 })).toBe('01:02:03.000001');
    expect(convert('timestamp', { kind: 'timeOfDay', micros: 1 })).toBe('INVALID');
    expect(convert('timestamp', num('5'))).toBe('INVALID');
  });
});

describe('JSON values jsonb cannot store', () => {
  const decoder = createDecoder(messageDefinition('json', [{ type: 'json', mapping: 'doc' }]));
  it('flags escapes of unpaired surrogates, keeps paired ones and escaped backslashes', () => {
    expect(decoder.decode(bytes('{"doc": {"x": "\\udc00"}}')).valid).toBe(false);
    expect(decoder.decode(bytes('{"doc": {"x": "\\ud83d"}}')).valid).toBe(false);
    expect(decoder.decode(bytes('{"doc": {"x": "\\ud83d\\ude00"}}'))).toEqual({ values: ['{"x":"\u{1f600}"}'], valid: true });
    expect(decoder.decode(bytes('{"doc": {"x": "\\\\udc00"}}')).valid).toBe(true);
  });
});

describe('conversions of the doubles and strings JSON.parse gives', () => {
  const kinds = ['smallint', 'integer', 'bigint', 'real', 'double', 'numeric', 'varchar', 'varchar(3)', 'char(2)', 'text', 'boolean', 'date', 'uuid'];
  const doubles = fc.oneof(
    fc.double(),
    fc.integer({ min: -40_000, max: 40_000 }),
    fc.constantFrom(-0, 2147483647, 2147483648, -2147483649, 1e15 - 1, 1e15, -1e15, 2 ** 53, 1e-7, 3.5e38, 1e21, 0.1, 1.5),
  );
  const strings = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('abc  ', 'é ', 'a\u0000b', '\ud800', '42', ' 7 '));

  it('are what the field converter gives for the same value as a SourceValue', () => {
    for (const kind of kinds) {
      const type = parseColumnType(kind);
      const converter = createConverter('f', type);
      const scalar = createScalarConverters(type);
      if (scalar.number) {
        const number = scalar.number;
        fc.assert(
          fc.property(doubles, (value) => {
            expect(number(value)).toBe(converter({ kind: 'number', text: String(value) }));
          }),
        );
      }
      if (scalar.string) {
        const string = scalar.string;
        fc.assert(
          fc.property(strings, (value) => {
            expect(string(value)).toBe(converter({ kind: 'string', value }));
          }),
        );
      }
    }
  });

  it('exist for the kinds the bench loads most (integers, floats, text)', () => {
    expect(['bigint', 'double', 'real', 'varchar'].map((kind) => Object.keys(createScalarConverters(parseColumnType(kind))))).toEqual([
      ['number'],
      ['number'],
      ['number'],
      ['string'],
    ]);
  });
});
