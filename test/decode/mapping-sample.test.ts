import { describe, expect, it } from 'vitest';
import { createRecordDecoder } from '../../src/decode/record-decoder.js';
import { type MappingVerdict, SAMPLE_SIZE } from '../../src/decode/mapping-sample.js';
import { avro } from './avro-encode.js';
import { bytes, type FieldSpec, messageDefinition } from './helpers.js';
import type { MessageDefinition } from '../../src/catalog/definition.js';

function sampled(message: MessageDefinition): { decode: (data: Uint8Array) => void; verdicts: MappingVerdict[]; judge: () => void } {
  const verdicts: MappingVerdict[] = [];
  const decoder = createRecordDecoder(message, { maxMessageBytes: 1 << 20, onMappingVerdict: (verdict) => verdicts.push(verdict) });
  return { decode: (data) => void decoder(data, 'key'), verdicts, judge: () => decoder.judgeMappings() };
}

const names = (verdict: MappingVerdict | undefined) => verdict?.unmatched.map(({ field, mapping }) => `${field}:${mapping}`);

describe('mappings that match nothing in the first records', () => {
  it('json: an absent path is a miss, a null value present is a match; judged once, after the first 1000 records', () => {
    const specs: FieldSpec[] = [
      { name: 'os', type: 'varchar', mapping: 'device/os' },
      { name: 'oss', type: 'varchar', mapping: 'device/oss' },
      { name: 'note', type: 'varchar', mapping: 'note' },
    ];
    const { decode, verdicts } = sampled(messageDefinition('json', specs));
    for (let i = 0; i < SAMPLE_SIZE - 1; i++) decode(bytes(JSON.stringify({ device: { os: 'linux' }, note: null })));
    decode(bytes('not json')); // unreadable: looks nothing up, so it does not count
    expect(verdicts).toEqual([]);
    decode(bytes(JSON.stringify({ device: { os: 'linux' }, note: null })));
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]!.messages).toBe(SAMPLE_SIZE);
    expect(names(verdicts[0])).toEqual(['oss:device/oss']);
    // A later record with the path changes nothing: the verdict is on the first records only.
    decode(bytes(JSON.stringify({ device: { oss: 'x' } })));
    expect(verdicts).toHaveLength(1);
  });

  it('json: one record with the path among the first makes it a match', () => {
    const { decode, verdicts, judge } = sampled(messageDefinition('json', [{ name: 'rare', type: 'integer', mapping: 'rare' }]));
    for (let i = 0; i < 10; i++) decode(bytes(JSON.stringify(i === 7 ? { rare: 1 } : {})));
    judge();
    expect(verdicts).toEqual([{ messages: 10, unmatched: [] }]);
  });

  it('csv: a column index past the end of every line is a miss, an empty cell is not', () => {
    const specs: FieldSpec[] = [
      { name: 'a', type: 'varchar', mapping: '0' },
      { name: 'b', type: 'varchar', mapping: '1' },
      { name: 'z', type: 'varchar', mapping: '7' },
    ];
    const { decode, verdicts, judge } = sampled(messageDefinition('csv', specs));
    decode(bytes('x,'));
    decode(bytes('y,'));
    judge();
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]!.messages).toBe(2);
    expect(names(verdicts[0])).toEqual(['z:7']);
  });

  it('avro: a path to a field the writer schema lacks is a miss, a null union branch is a match', () => {
    const schema = JSON.stringify({
      type: 'record',
      name: 'r',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'note', type: ['null', 'string'] },
      ],
    });
    const specs: FieldSpec[] = [
      { name: 'id', type: 'bigint', mapping: 'id' },
      { name: 'note', type: 'varchar', mapping: 'note' },
      { name: 'idd', type: 'bigint', mapping: 'idd' },
    ];
    const { decode, verdicts, judge } = sampled(messageDefinition('avro', specs, { dataSchema: schema }));
    decode(Uint8Array.from([...avro.long(5), ...avro.long(0)]));
    judge();
    expect(names(verdicts[0])).toEqual(['idd:idd']);
  });

  it('protobuf: a field the message type lacks is a miss, one the type has but the message leaves unset is a match', () => {
    const proto = 'syntax = "proto3"; message M { int64 id = 1; string note = 2; }';
    const specs: FieldSpec[] = [
      { name: 'id', type: 'bigint', mapping: 'id' },
      { name: 'note', type: 'varchar', mapping: 'note' },
      { name: 'idd', type: 'bigint', mapping: 'idd' },
    ];
    const { decode, verdicts, judge } = sampled(messageDefinition('protobuf', specs, { dataSchema: proto }));
    decode(Uint8Array.from([0x08, 0x05])); // id = 5, note unset
    judge();
    expect(verdicts[0]!.messages).toBe(1);
    expect(names(verdicts[0])).toEqual(['idd:idd']);
  });

  it('raw: a byte range past the end of every message is a miss', () => {
    const specs: FieldSpec[] = [
      { name: 'head', type: 'varchar', mapping: '0:2', dataFormat: 'VARCHAR' },
      { name: 'far', type: 'varchar', mapping: '100:104', dataFormat: 'VARCHAR' },
    ];
    const { decode, verdicts, judge } = sampled(messageDefinition('raw', specs));
    decode(bytes('abcdef'));
    judge();
    expect(names(verdicts[0])).toEqual(['far:100:104']);
  });

  it('judges nothing when no record could be read', () => {
    const { decode, verdicts, judge } = sampled(messageDefinition('json', [{ name: 'a', type: 'integer', mapping: 'a' }]));
    decode(bytes('{'));
    judge();
    expect(verdicts).toEqual([]);
  });
});
