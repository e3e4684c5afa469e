/**
 * Property tests: a random typed row encoded in each format decodes back to exactly the PostgreSQL text
 * of its values; random bytes never make a decoder throw.
 */
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { CompressionCodec, DataFormat } from '../../src/catalog/definition.js';
import { createDecoder } from '../../src/decode/index.js';
import { deaggregate } from '../../src/decode/kpl.js';
import { aggregate } from '../support/kpl-aggregate.js';
import { createRecordDecoder } from '../../src/decode/record-decoder.js';
import { avro } from './avro-encode.js';
import { bytes, COLUMN_TYPES, messageDefinition, type FieldSpec } from './helpers.js';

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;
/** Timestamps within PostgreSQL's (and our) year range 1..9999, in milliseconds. */
const timestampMillis = fc.integer({ min: Date.UTC(1, 0, 1) - 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }).map((ms) => new Date(ms));
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\u0000'));
const decimalText = fc.tuple(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.integer({ min: 0, max: 4 })).map(([unscaled, pad]) => {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(5, '0');
  const value = `${unscaled < 0n ? '-' : ''}${digits.slice(0, -4)}.${digits.slice(-4)}`;
  return { json: value + '0'.repeat(pad), expected: value.replace(/^(-?)0+(?=\d)/, '$1') };
});

function pgTimestamp(date: Date): string {
  const iso = date.toISOString(); // ±YYYYYY for years outside 0..9999 never happens in range
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

const rowArbitrary = fc.record({
  id: fc.bigInt({ min: BIGINT_MIN, max: BIGINT_MAX }),
  count: fc.integer({ min: -2147483648, max: 2147483647 }),
  ratio: fc.double({ noNaN: true, noDefaultInfinity: true }),
  flag: fc.boolean(),
  name: text,
  amount: decimalText,
  at: timestampMillis,
});

const specs: FieldSpec[] = [
  { type: 'bigint', mapping: 'id' },
  { type: 'integer', mapping: 'nested/count' },
  { type: 'double', mapping: 'ratio' },
  { type: 'boolean', mapping: 'flag' },
  { type: 'varchar', mapping: 'list[0]' },
  { type: 'decimal(18,4)', mapping: 'amount' },
  { type: 'timestamp with time zone', mapping: 'at', dataFormat: 'iso8601' },
  { type: 'timestamp', mapping: 'ms', dataFormat: 'milliseconds-since-epoch' },
];

type Row = typeof rowArbitrary extends fc.Arbitrary<infer T> ? T : never;

function expectedValues(row: Row): (string | null)[] {
  return [
    row.id.toString(),
    String(row.count),
    String(row.ratio === 0 ? 0 : row.ratio), // -0 prints as 0 in JSON
    String(row.flag),
    row.name,
    row.amount.expected,
    `${pgTimestamp(row.at)}+00`,
    pgTimestamp(row.at),
  ];
}

describe('round trips', () => {
  it('json: every typed value comes back exactly', () => {
    const decoder = createDecoder(messageDefinition('json', specs));
    fc.assert(
      fc.property(rowArbitrary, (row) => {
        const payload =
          `{"id":${row.id},"nested":{"count":${row.count}},"ratio":${JSON.stringify(row.ratio)},"flag":${row.flag},` +
          `"list":[${JSON.stringify(row.name)}],"amount":${row.amount.json},"at":"${row.at.toISOString()}","ms":${row.at.getTime()}}`;
        expect(decoder.decode(bytes(payload))).toEqual({ values: expectedValues(row), valid: true });
      }),
    );
  });

  it('csv: quoted cells with commas, quotes and line breaks come back exactly', () => {
    const csvSpecs = specs.map((spec, i) => ({ ...spec, mapping: String(i) }));
    const decoder = createDecoder(messageDefinition('csv', csvSpecs));
    const quote = (cell: string) => `"${cell.replaceAll('"', '""')}"`;
    fc.assert(
      fc.property(rowArbitrary, fc.boolean(), (row, crlf) => {
        const cells = [
          row.id.toString(),
          String(row.count),
          String(row.ratio),
          String(row.flag),
          quote(row.name),
          row.amount.json,
          row.at.toISOString(),
          String(row.at.getTime()),
        ];
        expect(decoder.decode(bytes(cells.join(',') + (crlf ? '\r\n' : '')))).toEqual({ values: expectedValues(row), valid: true });
      }),
    );
  });

  it('raw: big-endian integers and doubles come back exactly', () => {
    const decoder = createDecoder(
      messageDefinition('raw', [
        { type: 'smallint', mapping: '0', dataFormat: 'BYTE' },
        { type: 'smallint', mapping: '1', dataFormat: 'SHORT' },
        { type: 'integer', mapping: '3', dataFormat: 'INT' },
        { type: 'bigint', mapping: '7', dataFormat: 'LONG' },
        { type: 'double', mapping: '15', dataFormat: 'DOUBLE' },
        { type: 'varchar', mapping: '23' },
      ]),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: -128, max: 127 }),
        fc.integer({ min: -32768, max: 32767 }),
        fc.integer({ min: -2147483648, max: 2147483647 }),
        fc.bigInt({ min: BIGINT_MIN, max: BIGINT_MAX }),
        fc.double({ noNaN: true }),
        text,
        (b, s, i, l, d, tail) => {
          const head = Buffer.alloc(23);
          head.writeInt8(b, 0);
          head.writeInt16BE(s, 1);
          head.writeInt32BE(i, 3);
          head.writeBigInt64BE(l, 7);
          head.writeDoubleBE(d, 15);
          const row = decoder.decode(Buffer.concat([head, Buffer.from(tail)]));
          const double = d === Infinity ? 'Infinity' : d === -Infinity ? '-Infinity' : String(d);
          expect(row).toEqual({ values: [String(b), String(s), String(i), l.toString(), double, tail], valid: true });
        },
      ),
    );
  });

  it('avro: a record with long, string, double, boolean, nullable and decimal fields comes back exactly', () => {
    const schema = JSON.stringify({
      type: 'record',
      name: 'R',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'name', type: 'string' },
        { name: 'ratio', type: 'double' },
        { name: 'flag', type: 'boolean' },
        { name: 'maybe', type: ['null', 'long'] },
        { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 18, scale: 4 } },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-micros' } },
      ],
    });
    const decoder = createDecoder(
      messageDefinition(
        'avro',
        [
          { type: 'bigint', mapping: 'id' },
          { type: 'varchar', mapping: 'name' },
          { type: 'double', mapping: 'ratio' },
          { type: 'boolean', mapping: 'flag' },
          { type: 'bigint', mapping: 'maybe' },
          { type: 'decimal(18,4)', mapping: 'amount' },
          { type: 'timestamp', mapping: 'at' },
        ],
        { dataSchema: schema },
      ),
    );
    fc.assert(
      fc.property(rowArbitrary, fc.option(fc.bigInt({ min: BIGINT_MIN, max: BIGINT_MAX })), fc.integer({ min: 0, max: 999 }), (row, maybe, extraMicros) => {
        const unscaled = BigInt(row.amount.expected.replace('.', ''));
        const hex = BigInt.asUintN(64, unscaled).toString(16).padStart(16, '0');
        const datum = Uint8Array.from([
          ...avro.long(row.id),
          ...avro.string(row.name),
          ...avro.double(row.ratio),
          ...avro.boolean(row.flag),
          ...(maybe === null ? avro.long(0) : [...avro.long(1), ...avro.long(maybe)]),
          ...avro.bytes(Buffer.from(hex, 'hex')),
          ...avro.long(BigInt(row.at.getTime()) * 1000n + BigInt(extraMicros)),
        ]);
        const at = pgTimestamp(row.at).slice(0, -3) + String(extraMicros).padStart(3, '0');
        expect(decoder.decode(datum)).toEqual({
          values: [row.id.toString(), row.name, String(row.ratio), String(row.flag), maybe === null ? null : maybe.toString(), row.amount.expected, at],
          valid: true,
        });
      }),
    );
  });

  it('KPL: aggregate then de-aggregate gives back every user record', () => {
    const userRecord = fc
      .record({
        partitionKey: fc.string({ minLength: 1, maxLength: 8 }),
        explicitHashKey: fc.option(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map(String), { nil: undefined }),
        data: fc.uint8Array({ maxLength: 64 }),
      })
      .map(({ explicitHashKey, ...rest }) => (explicitHashKey === undefined ? rest : { ...rest, explicitHashKey }));
    fc.assert(
      fc.property(fc.array(userRecord, { maxLength: 20 }), (records) => {
        const result = deaggregate(aggregate(records));
        expect(result).toEqual({ kind: 'aggregated', records: records.map((r) => ({ ...r, data: expect.anything() })) });
        if (result.kind === 'aggregated') {
          for (const [i, r] of result.records.entries()) expect(Buffer.from(r.data).equals(Buffer.from(records[i]?.data ?? []))).toBe(true);
        }
      }),
    );
  });
});

describe('random input never throws', () => {
  const allTypes: FieldSpec[] = COLUMN_TYPES.map((type, i) => ({ type, mapping: `k${i}` }));
  const definitions: Record<DataFormat, () => ReturnType<typeof messageDefinition>> = {
    json: () =>
      messageDefinition(
        'json',
        allTypes.map((f, i) => ({ ...f, mapping: i % 2 ? `a/k${i}` : `k${i}[0]` })),
      ),
    csv: () =>
      messageDefinition(
        'csv',
        allTypes.map((f, i) => ({ ...f, mapping: String(i) })),
      ),
    raw: () =>
      messageDefinition('raw', [
        { type: 'bigint', mapping: '0', dataFormat: 'LONG' },
        { type: 'real', mapping: '1', dataFormat: 'FLOAT' },
        { type: 'boolean', mapping: '2', dataFormat: 'BYTE' },
        { type: 'varchar', mapping: '3:9' },
        { type: 'uuid', mapping: '0:16' },
        { type: 'decimal(3,1)', mapping: '4', dataFormat: 'DOUBLE' },
      ]),
    avro: () =>
      messageDefinition(
        'avro',
        [
          { type: 'bigint', mapping: 'a' },
          { type: 'json', mapping: 'b' },
          { type: 'varchar', mapping: 'c/x' },
        ],
        {
          dataSchema: JSON.stringify({
            type: 'record',
            name: 'R',
            fields: [
              { name: 'a', type: ['null', 'long', 'string'] },
              { name: 'b', type: { type: 'array', items: ['null', 'double'] } },
              { name: 'c', type: { type: 'map', values: 'string' } },
            ],
          }),
        },
      ),
    protobuf: () =>
      messageDefinition(
        'protobuf',
        [
          { type: 'bigint', mapping: 'id' },
          { type: 'json', mapping: 'tags' },
          { type: 'varchar', mapping: 'child/name' },
          { type: 'timestamptz', mapping: 'at' },
          { type: 'varchar', mapping: 'state' },
        ],
        {
          dataSchema: `syntax = "proto3"; import "google/protobuf/timestamp.proto";
            message R { sint64 id = 1; repeated double tags = 2; C child = 3; google.protobuf.Timestamp at = 4; S state = 5; }
            message C { string name = 1; }
            enum S { A = 0; B = 1; }`,
        },
      ),
    dummy: () => messageDefinition('dummy', []),
  };

  for (const [format, make] of Object.entries(definitions)) {
    it(`${format}: arbitrary bytes decode to a row of the right shape`, () => {
      const decoder = createDecoder(make());
      const width = make().fields.length;
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }),
            fc.json().map((j) => bytes(j)),
            fc.string().map((s) => bytes(s)),
          ),
          (payload) => {
            const row = decoder.decode(payload);
            expect(row.values).toHaveLength(width);
            for (const v of row.values) expect(v === null || typeof v === 'string').toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('record decoder: arbitrary records, gzip and KPL wrappers included, under every codec', () => {
    const codecs: CompressionCodec[] = ['UNCOMPRESSED', 'GZIP', 'AUTOMATIC'];
    // Each record with the messages it holds: a plain or gzipped record (or a broken KPL one) is one message
    // under the record's partition key; a KPL aggregate is its records, numbered, under their own keys.
    const plain = (data: Uint8Array) => ({ data, messages: [{ partitionKey: 'pk', subSequenceNumber: null }] });
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 100 }).map(plain),
      fc.uint8Array({ maxLength: 100 }).map((b) => plain(Uint8Array.from([0xf3, 0x89, 0x9a, 0xc2, ...b]))),
      fc.uint8Array({ maxLength: 100 }).map((b) => plain(gzipSync(b))),
      fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 4 }).map((list) => ({
        data: aggregate(list.map((data, i) => ({ partitionKey: `k${i}`, data }))),
        messages: list.map((_, i) => ({ partitionKey: `k${i}`, subSequenceNumber: i })),
      })),
    );
    fc.assert(
      fc.property(fc.constantFrom(...codecs), payload, (codec, { data, messages }) => {
        const decode = createRecordDecoder({ ...definitions.json(), compressionCodec: codec }, { maxMessageBytes: 64 });
        const out = decode(data, 'pk');
        expect(out.map(({ partitionKey, subSequenceNumber }) => ({ partitionKey, subSequenceNumber }))).toEqual(messages);
        for (const m of out) expect(m.row.values).toHaveLength(allTypes.length);
      }),
      { numRuns: 300 },
    );
  });
});
