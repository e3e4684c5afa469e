/**
 * Every non-null value a decoder emits must be accepted by PostgreSQL's input function for the column's
 * type (the store COPYs them verbatim). Checked against the embedded PostgreSQL with adversarial JSON values.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseColumnType } from '../../src/catalog/column-type.js';
import { createDecoder } from '../../src/decode/index.js';
import { startEmbeddedEngine, type EmbeddedEngine } from '../../src/engine/embedded-engine.js';
import { testLogger } from '../support/harness.js';
import { bytes, COLUMN_TYPES, messageDefinition, type FieldSpec } from '../decode/helpers.js';

const TYPES = ['tinyint', ...COLUMN_TYPES];

const interestingNumber = fc.oneof(
  fc
    .double()
    .filter(Number.isFinite)
    .map((d) => JSON.stringify(d)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.constantFrom('1e400', '-1e-400', '1e38', '3.5e38', '1.4e-45', '1e-50', '9999.995', '-0', '0.000', '1E+5', '123456789012345678901234567890.123'),
);
const interestingString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-inf',
    ' 42 ',
    'yes',
    'off',
    '2024-02-29',
    '2023-02-29',
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999Z',
    '24:00',
    '2024-01-01T24:00:00',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{a0eebc999c0b4ef8bb6d6bb9bd380a11}',
    'ab  ',
    '\ud800x',
    'x\u0000',
  ),
);
const interestingValue: fc.Arbitrary<string> = fc.oneof(
  interestingNumber,
  interestingString.map((s) => JSON.stringify(s)),
  fc.boolean().map(String),
  fc.constant('null'),
  fc.json({ maxDepth: 2 }),
  fc.constant('{"a":"\\u0000"}'),
);

describe('PostgreSQL accepts every value decoders emit', () => {
  let engine: EmbeddedEngine;
  let db: pg.Client;
  beforeAll(async () => {
    engine = await startEmbeddedEngine({ maxConnections: 10, logger: testLogger });
    db = new pg.Client(engine.endpoint);
    await db.connect();
  }, 120_000);
  afterAll(async () => {
    await db?.end();
    await engine?.stop();
  });

  it('json values of every kind, into every column type', async () => {
    const specs: FieldSpec[] = TYPES.map((type, i) => ({
      type,
      mapping: `v${i}`,
      ...(/date|time/.test(type) ? { dataFormat: i % 2 ? 'iso8601' : 'seconds-since-epoch' } : {}),
    }));
    const decoder = createDecoder(messageDefinition('json', specs));
    const sqlTypes = TYPES.map((t) => parseColumnType(t).sql);
    const samples = fc.sample(fc.array(interestingValue, { minLength: TYPES.length, maxLength: TYPES.length }), { numRuns: 150, seed: 20251125 });
    let checked = 0;
    for (const values of samples) {
      const payload = `{${values.map((v, i) => `"v${i}":${v}`).join(',')}}`;
      const row = decoder.decode(bytes(payload));
      for (let i = 0; i < TYPES.length; i++) {
        const value = row.values[i];
        if (value === null || value === undefined) continue;
        // The same input function COPY uses; a rejected value throws here.
        const result = await db.query(`SELECT $1::text::${sqlTypes[i]} AS v`, [value]).catch((error: Error) => error);
        expect(result instanceof Error ? `${TYPES[i]} rejected ${JSON.stringify(value)}: ${result.message}` : 'accepted').toBe('accepted');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  }, 120_000);
});
