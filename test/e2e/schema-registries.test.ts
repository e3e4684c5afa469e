/**
 * Avro and protobuf streams whose producers use schema registries (a Confluent stand-in speaking its REST
 * API, a Glue stand-in answering the SDK's GetSchemaVersion), read through the wire with node-postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { AVRO_V1, AVRO_V2, avroOrder, ORDER_FIELDS, PROTO_V1, PROTO_V2, protobufOrder } from '../support/registry-fixtures.js';
import { confluentFramed, glueFramed, startRegistryStandIns, type ConfluentStandIn, type GlueStandIn } from '../support/schema-registry-standins.js';

const fields = ORDER_FIELDS;

const LOOKUP_TIMEOUT_MS = 500;

describe('streams whose writer schemas come from schema registries', () => {
  let harness: Harness;
  let standIns: Awaited<ReturnType<typeof startRegistryStandIns>>;
  let confluent: ConfluentStandIn;
  let glue: GlueStandIn;

  beforeAll(async () => {
    standIns = await startRegistryStandIns();
    ({ confluent, glue } = standIns);
    harness = await startHarness({
      streams: [
        { name: 'orders-avro', shards: 2 },
        { name: 'orders-proto', shards: 1 },
      ],
      definitions: {
        'orders_avro.json': { tableName: 'orders_avro', streamName: 'orders-avro', message: { dataFormat: 'avro', schemaRegistry: 'confluent', fields } },
        'orders_proto.json': {
          tableName: 'orders_proto',
          streamName: 'orders-proto',
          message: { dataFormat: 'protobuf', schemaRegistry: 'confluent', fields },
        },
      },
      configure: (config) => ({
        ...config,
        schemaRegistry: standIns.settings({ timeoutMs: LOOKUP_TIMEOUT_MS, retryIntervalMs: 600_000 }),
      }),
    });
    const avro1 = confluent.register('orders-avro-value', AVRO_V1);
    const avro2 = confluent.register('orders-avro-value', AVRO_V2);
    const glueAvro2 = glue.register('shop', 'orders-avro', AVRO_V2, 'AVRO');
    await harness.put('orders-avro', [
      { data: confluentFramed(avro1, avroOrder(1, { id: 1n, customer: 'ada' })) },
      { data: confluentFramed(avro2, avroOrder(2, { id: 2n, customer: 'bob', total: 12.5 })) },
      { data: glueFramed(glueAvro2, avroOrder(2, { id: 3n, customer: 'cy', total: 7 }), { zlib: true }) },
      { data: confluentFramed(avro1, avroOrder(1, { id: 9223372036854775807n, customer: 'max' })) },
    ]);
    const proto1 = confluent.register('orders-proto-value', PROTO_V1, { schemaType: 'PROTOBUF' });
    const proto2 = confluent.register('orders-proto-value', PROTO_V2, { schemaType: 'PROTOBUF' });
    const glueProto2 = glue.register('shop', 'orders-proto', PROTO_V2, 'PROTOBUF');
    await harness.put('orders-proto', [
      { data: confluentFramed(proto1, protobufOrder(1, { id: 10n, customer: 'dan' }), [0]) },
      { data: confluentFramed(proto2, protobufOrder(2, { id: 11n, customer: 'eve', total: 0.5 }), [1]) },
      { data: glueFramed(glueProto2, protobufOrder(2, { id: 12n, customer: 'fay', total: 3 }), { messageIndex: 1 }) },
    ]);
  });

  afterAll(async () => {
    await harness?.close();
    await standIns?.close();
  });

  it('decodes records of two schema versions, from both registries, into one table each', async () => {
    const client = await harness.connect();
    try {
      const avro = await client.query('select id::text, customer, total, _message_valid as valid from orders_avro order by id');
      expect(avro.rows).toEqual([
        { id: '1', customer: 'ada', total: null, valid: true },
        { id: '2', customer: 'bob', total: 12.5, valid: true },
        { id: '3', customer: 'cy', total: 7, valid: true },
        { id: '9223372036854775807', customer: 'max', total: null, valid: true },
      ]);
      const proto = await client.query('select id::int, customer, total, _message_valid as valid from orders_proto order by id');
      expect(proto.rows).toEqual([
        { id: 10, customer: 'dan', total: null, valid: true },
        { id: 11, customer: 'eve', total: 0.5, valid: true },
        { id: 12, customer: 'fay', total: 3, valid: true },
      ]);
      const status = await client.query(`select table_name, schema_registry_error from kinesql.streams order by table_name`);
      expect(status.rows).toEqual([
        { table_name: 'orders_avro', schema_registry_error: null },
        { table_name: 'orders_proto', schema_registry_error: null },
      ]);
    } finally {
      await client.end();
    }
  });

  it('answers while the registry does not: records of unknown schemas are invalid, kinesql.streams says why', async () => {
    const avro3 = confluent.register('orders-avro-value', AVRO_V2.replace('"Order"', '"Order3"'));
    const client = await harness.connect();
    confluent.mode = 'hang';
    try {
      await harness.put('orders-avro', [{ data: confluentFramed(avro3, avroOrder(2, { id: 4n, customer: 'late', total: 1 })) }]);
      const rows = await client.query('select count(*)::int as n, count(*) filter (where not _message_valid)::int as invalid from orders_avro');
      expect(rows.rows).toEqual([{ n: 5, invalid: 1 }]);
      const status = await client.query(`select schema_registry_error from kinesql.streams where table_name = 'orders_avro'`);
      expect(status.rows).toEqual([{ schema_registry_error: `confluent schema id ${avro3}: no answer within ${LOOKUP_TIMEOUT_MS} ms` }]);

      // The failure is remembered: more records of that schema are invalid at once, without asking again.
      const asked = confluent.requests.length;
      await harness.put('orders-avro', [{ data: confluentFramed(avro3, avroOrder(2, { id: 5n, customer: 'later', total: 2 })) }]);
      const again = await client.query('select count(*)::int as n, count(*) filter (where not _message_valid)::int as invalid from orders_avro');
      expect(again.rows).toEqual([{ n: 6, invalid: 2 }]);
      expect(confluent.requests.length).toBe(asked);
      const valid = await client.query(`select customer from orders_avro where _message_valid and id = 1`);
      expect(valid.rows).toEqual([{ customer: 'ada' }]);
    } finally {
      confluent.mode = 'up';
      await client.end();
    }
  });
});
