import { describe, expect, it } from 'vitest';
import { parseCsvRecord } from '../../src/decode/csv.js';
import { createDecoder } from '../../src/decode/index.js';
import { bytes, messageDefinition, type FieldSpec } from './helpers.js';

const decodeCsv = (specs: FieldSpec[], payload: string) => createDecoder(messageDefinition('csv', specs)).decode(bytes(payload));

describe('csv decoder', () => {
  it('splits RFC 4180 records with quotes, doubled quotes and embedded line breaks', () => {
    expect(parseCsvRecord('a,"b,c","say ""hi""","line1\nline2",\r\n')).toEqual(['a', 'b,c', 'say "hi"', 'line1\nline2', '']);
  });

  it('refuses malformed records', () => {
    expect(parseCsvRecord('"open')).toBeUndefined();
    expect(parseCsvRecord('"a"b,c')).toBeUndefined();
    expect(parseCsvRecord('a,b\nc,d')).toBeUndefined();
  });

  it('maps 0-based column indexes to typed columns; empty and missing cells are NULL', () => {
    const row = decodeCsv(
      [
        { type: 'bigint', mapping: '2' },
        { type: 'varchar', mapping: '0' },
        { type: 'double', mapping: '1' },
        { type: 'varchar', mapping: '7' },
        { type: 'date', mapping: '3', dataFormat: 'custom-date-time', formatHint: 'dd/MM/yyyy' },
      ],
      '"x, y",,9007199254740993,31/12/1999',
    );
    expect(row).toEqual({ values: ['9007199254740993', 'x, y', null, null, '1999-12-31'], valid: true });
  });

  it('makes a cell that does not convert NULL and the row invalid', () => {
    expect(
      decodeCsv(
        [
          { type: 'integer', mapping: '0' },
          { type: 'varchar', mapping: '1' },
        ],
        'abc,ok',
      ),
    ).toEqual({ values: [null, 'ok'], valid: false });
    expect(decodeCsv([{ type: 'varchar', mapping: '0' }], '"unterminated')).toEqual({ values: [null], valid: false });
  });

  it('refuses a mapping that is not a column index', () => {
    expect(() => createDecoder(messageDefinition('csv', [{ name: 'c', type: 'varchar', mapping: 'a/b' }]))).toThrow(/field "c"/);
  });
});
