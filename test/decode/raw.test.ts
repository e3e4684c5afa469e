import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/index.js';
import { messageDefinition, type FieldSpec } from './helpers.js';

const decodeRaw = (specs: FieldSpec[], payload: Uint8Array) => createDecoder(messageDefinition('raw', specs)).decode(payload);

describe('raw decoder', () => {
  const payload = Buffer.alloc(32);
  payload.writeInt8(-5, 0);
  payload.writeInt16BE(-300, 1);
  payload.writeInt32BE(70000, 3);
  payload.writeBigInt64BE(-9223372036854775807n, 7);
  payload.writeFloatBE(1.5, 15);
  payload.writeDoubleBE(Math.PI, 19);
  payload.write('hi', 27, 'utf8'); // bytes 29..31 stay NUL padding

  it('reads big-endian numbers and text at byte offsets', () => {
    const row = decodeRaw(
      [
        { type: 'tinyint', mapping: '0', dataFormat: 'BYTE' },
        { type: 'smallint', mapping: '1', dataFormat: 'SHORT' },
        { type: 'integer', mapping: '3:7', dataFormat: 'INT' },
        { type: 'bigint', mapping: '7', dataFormat: 'LONG' },
        { type: 'real', mapping: '15', dataFormat: 'FLOAT' },
        { type: 'double', mapping: '19', dataFormat: 'DOUBLE' },
        { type: 'varchar', mapping: '27:32', dataFormat: 'VARCHAR' },
        { type: 'boolean', mapping: '3', dataFormat: 'INT' },
        { type: 'varbinary', mapping: '27:29' },
      ],
      payload,
    );
    expect(row).toEqual({ values: ['-5', '-300', '70000', '-9223372036854775807', '1.5', String(Math.PI), 'hi', 'true', '\\x6869'], valid: true });
  });

  it('marks a range past the end of the message invalid', () => {
    expect(
      decodeRaw(
        [
          { type: 'bigint', mapping: '28', dataFormat: 'LONG' },
          { type: 'varchar', mapping: '0:40' },
        ],
        payload,
      ),
    ).toEqual({ values: [null, null], valid: false });
  });

  it('refuses values that do not fit the column', () => {
    expect(decodeRaw([{ type: 'smallint', mapping: '3', dataFormat: 'INT' }], payload)).toEqual({ values: [null], valid: false });
  });

  it('refuses bad mappings and formats at creation, naming the field', () => {
    expect(() => decodeRaw([{ name: 'n', type: 'bigint', mapping: '0:3', dataFormat: 'LONG' }], payload)).toThrow(/field "n"/);
    expect(() => decodeRaw([{ name: 'n', type: 'bigint', mapping: 'x', dataFormat: 'LONG' }], payload)).toThrow(/field "n"/);
    expect(() => decodeRaw([{ name: 'n', type: 'bigint', mapping: '0', dataFormat: 'QUAD' }], payload)).toThrow(/field "n"/);
  });
});
