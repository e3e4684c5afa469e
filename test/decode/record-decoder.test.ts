import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { aggregate } from '../support/kpl-aggregate.js';
import { createRecordDecoder } from '../../src/decode/record-decoder.js';
import { bytes, messageDefinition } from './helpers.js';

const definition = messageDefinition('json', [{ type: 'bigint', mapping: 'n' }]);

describe('record decoder', () => {
  it('decodes a plain record', () => {
    const decode = createRecordDecoder(definition, { maxMessageBytes: 1000 });
    expect(decode(bytes('{"n": 7}'), 'pk')).toEqual([
      { partitionKey: 'pk', subSequenceNumber: null, message: bytes('{"n": 7}'), row: { values: ['7'], valid: true } },
    ]);
  });

  it('splits a KPL-aggregated record into user records, decompressing each', () => {
    const decode = createRecordDecoder({ ...definition, compressionCodec: 'AUTOMATIC' }, { maxMessageBytes: 1000 });
    const record = aggregate([
      { partitionKey: 'a', data: bytes('{"n": 1}') },
      { partitionKey: 'b', data: gzipSync(bytes('{"n": 2}')) },
      { partitionKey: 'a', data: bytes('not json') },
    ]);
    const out = decode(record, 'outer');
    expect(out.map((m) => [m.partitionKey, m.subSequenceNumber, Buffer.from(m.message).toString(), m.row.values[0], m.row.valid])).toEqual([
      ['a', 0, '{"n": 1}', '1', true],
      ['b', 1, '{"n": 2}', '2', true],
      ['a', 2, 'not json', null, false],
    ]);
  });

  it('keeps a KPL record with a bad digest as one invalid row holding the raw record', () => {
    const record = aggregate([{ partitionKey: 'a', data: bytes('{"n": 1}') }]);
    record[record.length - 1] = (record[record.length - 1] as number) ^ 0xff;
    const out = createRecordDecoder(definition, { maxMessageBytes: 1000 })(record, 'outer');
    expect(out).toEqual([{ partitionKey: 'outer', subSequenceNumber: null, message: record, row: { values: [null], valid: false } }]);
  });

  it('turns a record above the size limit (a compression bomb) into an invalid row', () => {
    const bomb = gzipSync(Buffer.alloc(1_000_000, 0x20));
    const out = createRecordDecoder({ ...definition, compressionCodec: 'GZIP' }, { maxMessageBytes: 10_000 })(bomb, 'pk');
    expect(out).toHaveLength(1);
    expect(out[0]?.row).toEqual({ values: [null], valid: false });
    expect(out[0]?.message).toBe(bomb);
  });
});
