/**
 * The Avro decoder against records encoded by avsc, a widely used independent Avro implementation: the same
 * bytes producers send, not only what the tests' own encoder writes.
 */
import avsc from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/index.js';
import { messageDefinition, type FieldSpec } from './helpers.js';

const schema = {
  type: 'record',
  name: 'Reading',
  namespace: 'plant',
  fields: [
    { name: 'id', type: 'long' },
    {
      name: 'sensor',
      type: {
        type: 'record',
        name: 'Sensor',
        fields: [
          { name: 'name', type: 'string' },
          { name: 'active', type: 'boolean' },
        ],
      },
    },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'level', type: { type: 'enum', name: 'Level', symbols: ['LOW', 'MID', 'HIGH'] } },
    { name: 'samples', type: { type: 'array', items: 'int' } },
    { name: 'tags', type: { type: 'map', values: 'string' } },
    { name: 'ratio', type: 'double' },
    { name: 'weight', type: 'float' },
    { name: 'raw', type: 'bytes' },
    { name: 'serial', type: { type: 'fixed', name: 'Serial', size: 4 } },
  ],
};

const specs: FieldSpec[] = [
  { type: 'bigint', mapping: 'id' },
  { type: 'varchar', mapping: 'sensor/name' },
  { type: 'boolean', mapping: 'sensor/active' },
  { type: 'varchar', mapping: 'note' },
  { type: 'varchar', mapping: 'level' },
  { type: 'integer', mapping: 'samples[0]' },
  { type: 'varchar', mapping: 'tags/site' },
  { type: 'double', mapping: 'ratio' },
  { type: 'real', mapping: 'weight' },
];

interface Reading {
  id: number;
  sensor: { name: string; active: boolean };
  note: string | null;
  level: 'LOW' | 'MID' | 'HIGH';
  samples: number[];
  tags: Record<string, string>;
  ratio: number;
  weight: number;
  raw: Buffer;
  serial: Buffer;
}

const reading: fc.Arbitrary<Reading> = fc.record({
  // avsc writes longs with float arithmetic: zig-zag values past 2^53 lose bits, so stay within ±2^52.
  id: fc.integer({ min: -(2 ** 52), max: 2 ** 52 - 1 }),
  sensor: fc.record({ name: fc.string({ unit: 'grapheme', maxLength: 20 }), active: fc.boolean() }),
  note: fc.option(fc.string({ maxLength: 30 }), { nil: null }),
  level: fc.constantFrom('LOW' as const, 'MID' as const, 'HIGH' as const),
  samples: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 5 }),
  tags: fc.dictionary(fc.constantFrom('site', 'line', 'shift'), fc.string({ maxLength: 10 })),
  ratio: fc.double({ noNaN: true, noDefaultInfinity: true }),
  weight: fc.float({ noNaN: true, noDefaultInfinity: true }),
  raw: fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)),
  serial: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => Buffer.from(bytes)),
});

describe('avro decoder against avsc-encoded records', () => {
  const type = avsc.Type.forSchema(schema as avsc.Schema);
  const decoder = createDecoder(messageDefinition('avro', specs, { dataSchema: JSON.stringify(schema) }));

  it('decodes every field of records avsc wrote, with and without Confluent framing', () => {
    fc.assert(
      fc.property(reading, fc.boolean(), (value, framed) => {
        const datum = type.toBuffer(value);
        const payload = framed ? Buffer.concat([Buffer.from([0, 0, 0, 1, 7]), datum]) : datum;
        const row = decoder.decode(payload);
        expect(row.valid).toBe(true);
        const [id, name, active, note, level, firstSample, site, ratio, weight] = row.values;
        expect(id).toBe(String(value.id));
        expect(name).toBe(value.sensor.name);
        expect(active).toBe(String(value.sensor.active));
        expect(note).toBe(value.note);
        expect(level).toBe(value.level);
        expect(firstSample).toBe(String(value.samples[0]));
        expect(site).toBe(value.tags['site'] ?? null);
        // Compared as numbers: the text of -0 is 0, as PostgreSQL prints it.
        expect(Number(ratio) === value.ratio).toBe(true);
        expect(Math.fround(Number(weight)) === Math.fround(value.weight)).toBe(true);
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });

  it('marks a record cut short invalid', () => {
    const datum = type.toBuffer({
      id: 1,
      sensor: { name: 'boiler', active: true },
      note: null,
      level: 'MID',
      samples: [1],
      tags: {},
      ratio: 0.5,
      weight: 1.5,
      raw: Buffer.alloc(0),
      serial: Buffer.from([1, 2, 3, 4]),
    });
    expect(decoder.decode(datum).valid).toBe(true);
    expect(decoder.decode(datum.subarray(0, datum.length - 2)).valid).toBe(false);
  });
});
