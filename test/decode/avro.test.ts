import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/index.js';
import { avro } from './avro-encode.js';
import { messageDefinition, type FieldSpec } from './helpers.js';

const schema = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    {
      name: 'customer',
      type: {
        type: 'record',
        name: 'Customer',
        fields: [
          { name: 'name', type: 'string' },
          { name: 'vip', type: 'boolean' },
        ],
      },
    },
    { name: 'note', type: ['null', 'string'] },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'qty', type: 'int' },
          ],
        },
      },
    },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'ratio', type: 'double' },
    { name: 'attrs', type: { type: 'map', values: 'long' } },
  ],
});

function orderDatum(note: string | null): Uint8Array {
  return Uint8Array.from([
    ...avro.long(9007199254740993n),
    ...avro.string('Zoë'),
    ...avro.boolean(true),
    ...(note === null ? avro.long(0) : [...avro.long(1), ...avro.string(note)]),
    ...avro.long(2),
    ...avro.string('a'),
    ...avro.long(3),
    ...avro.string('b'),
    ...avro.long(-1),
    ...avro.long(0),
    ...avro.bytes(Uint8Array.of(0xff, 0x85)), // -123 unscaled → -1.23
    ...avro.long(1700000000123),
    ...avro.double(0.25),
    ...avro.long(1),
    ...avro.string('k'),
    ...avro.long(5),
    ...avro.long(0),
  ]);
}

const specs: FieldSpec[] = [
  { type: 'bigint', mapping: 'id' },
  { type: 'varchar', mapping: 'customer/name' },
  { type: 'boolean', mapping: 'customer/vip' },
  { type: 'varchar', mapping: 'note' },
  { type: 'varchar', mapping: 'lines[1]/sku' },
  { type: 'integer', mapping: 'lines[1]/qty' },
  { type: 'decimal(10,2)', mapping: 'price' },
  { type: 'timestamp with time zone', mapping: 'at' },
  { type: 'double', mapping: 'ratio' },
  { type: 'json', mapping: 'lines' },
  { type: 'bigint', mapping: 'attrs/k' },
];

describe('avro decoder', () => {
  const decoder = createDecoder(messageDefinition('avro', specs, { dataSchema: schema }));
  const expected = [
    '9007199254740993',
    'Zoë',
    'true',
    'memo',
    'b',
    '-1',
    '-1.23',
    '2023-11-14 22:13:20.123000+00',
    '0.25',
    '[{"sku":"a","qty":3},{"sku":"b","qty":-1}]',
    '5',
  ];

  it('decodes a binary datum with the writer schema, following paths through records, unions, arrays and maps', () => {
    expect(decoder.decode(orderDatum('memo'))).toEqual({ values: expected, valid: true });
  });

  it('gives NULL for a null union branch and keeps the row valid', () => {
    expect(decoder.decode(orderDatum(null))).toEqual({ values: expected.map((v) => (v === 'memo' ? null : v)), valid: true });
  });

  it('skips Confluent framing (magic 0 + schema id)', () => {
    expect(decoder.decode(Uint8Array.from([0, 0, 0, 0, 42, ...orderDatum('memo')]))).toEqual({ values: expected, valid: true });
  });

  it('skips AWS Glue Schema Registry framing (version 3, uncompressed, 16-byte schema version id)', () => {
    expect(decoder.decode(Uint8Array.from([3, 0, ...new Uint8Array(16).fill(0x5a), ...orderDatum('memo')]))).toEqual({ values: expected, valid: true });
  });

  it('marks a truncated datum or trailing bytes invalid', () => {
    const datum = orderDatum('memo');
    expect(decoder.decode(datum.subarray(0, datum.length - 1)).valid).toBe(false);
    expect(decoder.decode(Uint8Array.from([...datum, 7])).valid).toBe(false);
  });

  it('refuses a missing or malformed schema at creation', () => {
    expect(() => createDecoder(messageDefinition('avro', specs))).toThrow(/dataSchema/);
    expect(() => createDecoder(messageDefinition('avro', specs, { dataSchema: '{"type":"record","name":"x","fields":[{"name":"a","type":"nope"}]}' }))).toThrow(
      /unknown type "nope"/,
    );
  });

  it('supports recursive named types', () => {
    const list = JSON.stringify({
      type: 'record',
      name: 'Node',
      fields: [
        { name: 'v', type: 'int' },
        { name: 'next', type: ['null', 'Node'] },
      ],
    });
    const d = createDecoder(messageDefinition('avro', [{ type: 'integer', mapping: 'next/next/v' }], { dataSchema: list }));
    const datum = Uint8Array.from([...avro.long(1), ...avro.long(1), ...avro.long(2), ...avro.long(1), ...avro.long(3), ...avro.long(0)]);
    expect(d.decode(datum)).toEqual({ values: ['3'], valid: true });
  });
});
