/**
 * Decoding records whose writer schemas come from schema registries (stand-ins on loopback ports), the way
 * the store runs it: each record unwrapped once, fetchSchemas for the batch's payloads, then the synchronous decode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageDefinition } from '../../src/catalog/definition.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { aggregate } from '../support/kpl-aggregate.js';
import { createRecordDecoder, type RecordDecoder } from '../../src/decode/record-decoder.js';
import { createSchemaRegistries, type ConfiguredRegistries } from '../../src/registry/from-config.js';
import { testLogger } from '../support/test-logger.js';
import { AVRO_V1, AVRO_V2, avroOrder, ORDER_FIELDS, PROTO_V1, PROTO_V2, protobufOrder } from '../support/registry-fixtures.js';
import { confluentFramed, glueFramed, startRegistryStandIns, type ConfluentStandIn, type GlueStandIn } from '../support/schema-registry-standins.js';
import { messageDefinition } from './helpers.js';

const orderFields = ORDER_FIELDS;

describe('records framed for schema registries', () => {
  let standIns: Awaited<ReturnType<typeof startRegistryStandIns>>;
  let confluent: ConfluentStandIn;
  let glue: GlueStandIn;
  let configured: ConfiguredRegistries;

  beforeAll(async () => {
    standIns = await startRegistryStandIns();
    ({ confluent, glue } = standIns);
    configured = createSchemaRegistries(
      {
        ...DEFAULT_CONFIG,
        aws: { region: 'us-east-1', accessKeyId: 'test', secretAccessKey: 'test' },
        // A deadline no lookup from the stand-ins comes near on a loaded machine (deadlines: schema-registries.test.ts).
        schemaRegistry: standIns.settings({ timeoutMs: 30_000, retryIntervalMs: 60_000 }),
      },
      testLogger,
    );
  });

  afterAll(async () => {
    configured?.close();
    await standIns?.close();
  });

  const decoderFor = (message: MessageDefinition): RecordDecoder =>
    createRecordDecoder(message, { maxMessageBytes: 1 << 20, registries: configured.registries });

  async function decodeAll(decoder: RecordDecoder, records: Uint8Array[]) {
    const unwrapped = records.flatMap((data) => decoder.unwrap(data, 'pk'));
    await decoder.fetchSchemas(unwrapped);
    return unwrapped.map(decoder.decodeUnwrapped).map((message) => ({ valid: message.row.valid, values: message.row.values }));
  }

  it('decode avro records of two schema versions and both registries into one table', async () => {
    const v1 = confluent.register('orders-avro-value', AVRO_V1);
    const v2 = confluent.register('orders-avro-value', AVRO_V2);
    const g1 = glue.register('shop', 'orders-avro', AVRO_V1, 'AVRO');
    const g2 = glue.register('shop', 'orders-avro', AVRO_V2, 'AVRO');
    const decoder = decoderFor(messageDefinition('avro', orderFields, { schemaRegistry: { type: 'confluent' } }));
    const rows = await decodeAll(decoder, [
      confluentFramed(v1, avroOrder(1, { id: 9007199254740993n, customer: 'ada' })),
      confluentFramed(v2, avroOrder(2, { id: 2n, customer: 'bob', total: 12.5 })),
      glueFramed(g1, avroOrder(1, { id: 3n, customer: 'cy' })),
      glueFramed(g2, avroOrder(2, { id: 4n, customer: 'di', total: 0.25 }), { zlib: true }),
    ]);
    expect(rows).toEqual([
      { valid: true, values: ['9007199254740993', 'ada', null] },
      { valid: true, values: ['2', 'bob', '12.5'] },
      { valid: true, values: ['3', 'cy', null] },
      { valid: true, values: ['4', 'di', '0.25'] },
    ]);
    expect(decoder.registryError()).toBeUndefined();
  });

  it('decode protobuf records by the message their framing names, KPL-aggregated ones too', async () => {
    const v1 = confluent.register('orders-proto-value', PROTO_V1, { schemaType: 'PROTOBUF' });
    const v2 = confluent.register('orders-proto-value', PROTO_V2, { schemaType: 'PROTOBUF' });
    const g2 = glue.register('shop', 'orders-proto', PROTO_V2, 'PROTOBUF');
    const decoder = decoderFor(messageDefinition('protobuf', orderFields, { schemaRegistry: { type: 'confluent' } }));
    const aggregated = aggregate([
      { partitionKey: 'a', data: confluentFramed(v1, protobufOrder(1, { id: 5n, customer: 'kpl' }), [0]) },
      { partitionKey: 'b', data: confluentFramed(v2, protobufOrder(2, { id: 6n, customer: 'kpl2', total: 3 }), [1]) },
    ]);
    const rows = await decodeAll(decoder, [
      confluentFramed(v1, protobufOrder(1, { id: -7n, customer: 'ada' }), [0]),
      confluentFramed(v2, protobufOrder(2, { id: 18014398509481985n, customer: 'bob', total: 1.5 }), [1]),
      // Glue numbers the file's messages by full name: shop.Header = 0, shop.Order = 1.
      glueFramed(g2, protobufOrder(2, { id: 8n, customer: 'cy', total: 2 }), { zlib: true, messageIndex: 1 }),
      aggregated,
    ]);
    expect(rows).toEqual([
      { valid: true, values: ['-7', 'ada', null] },
      { valid: true, values: ['18014398509481985', 'bob', '1.5'] },
      { valid: true, values: ['8', 'cy', '2'] },
      { valid: true, values: ['5', 'kpl', null] },
      { valid: true, values: ['6', 'kpl2', '3'] },
    ]);
  });

  it('resolve the named types an avro schema takes from its references', async () => {
    const customer = JSON.stringify({ type: 'record', name: 'Customer', namespace: 'shop', fields: [{ name: 'name', type: 'string' }] });
    confluent.register('shop.Customer', customer);
    const order = JSON.stringify({
      type: 'record',
      name: 'Order',
      namespace: 'shop',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'customer', type: 'shop.Customer' },
      ],
    });
    const id = confluent.register('refs-value', order, { references: [{ name: 'shop.Customer', subject: 'shop.Customer', version: 1 }] });
    const decoder = decoderFor(
      messageDefinition('avro', [{ name: 'who', type: 'varchar', mapping: 'customer/name' }], { schemaRegistry: { type: 'confluent' } }),
    );
    const datum = Buffer.from([0x54, 0x06, ...Buffer.from('zoe')]); // id 42, customer.name "zoe"
    expect(await decodeAll(decoder, [confluentFramed(id, datum)])).toEqual([{ valid: true, values: ['zoe'] }]);
  });

  it('decode JSON Schema records without a lookup', async () => {
    const decoder = decoderFor(messageDefinition('json', orderFields));
    const json = Buffer.from('{"id": 1234567890123456789, "customer": "eve", "total": 1}');
    expect(decoder.fetchSchemas(decoder.unwrap(json, 'pk'))).toBeUndefined();
    const rows = await decodeAll(decoder, [confluentFramed(77, json), glueFramed('5b1f2c3d-0000-4000-8000-000000000001', json, { zlib: true })]);
    expect(rows).toEqual([
      { valid: true, values: ['1234567890123456789', 'eve', '1'] },
      { valid: true, values: ['1234567890123456789', 'eve', '1'] },
    ]);
    // _message holds the JSON without its header, so the table can be decoded from it again.
    const stored = decoder(confluentFramed(77, json), 'pk').map((message) => Buffer.from(message.message).toString('utf8'));
    expect(stored).toEqual([json.toString('utf8')]);
  });

  it('take unframed records from the subject a definition names', async () => {
    confluent.register('plain-value', AVRO_V2);
    const decoder = decoderFor(messageDefinition('avro', orderFields, { schemaRegistry: { type: 'confluent', subject: 'plain-value' } }));
    expect(await decodeAll(decoder, [avroOrder(2, { id: 1n, customer: 'x', total: 2 })])).toEqual([{ valid: true, values: ['1', 'x', '2'] }]);
  });

  it('make records invalid when their schema cannot be had, and say why', async () => {
    const decoder = decoderFor(messageDefinition('avro', orderFields, { schemaRegistry: { type: 'confluent' } }));
    const protoId = confluent.register('wrong-value', PROTO_V1, { schemaType: 'PROTOBUF' });
    expect(await decodeAll(decoder, [confluentFramed(protoId, avroOrder(1, { id: 1n, customer: 'x' }))])).toEqual([
      { valid: false, values: [null, null, null] },
    ]);
    expect(decoder.registryError()).toBe(`Confluent schema id ${protoId}: is a protobuf schema; this table decodes avro`);

    const id = confluent.register('later-value', AVRO_V1);
    await confluent.stop();
    try {
      const record = confluentFramed(id, avroOrder(1, { id: 1n, customer: 'x' }));
      expect(await decodeAll(decoder, [record])).toEqual([{ valid: false, values: [null, null, null] }]);
      expect(decoder.registryError()).toMatch(new RegExp(`^confluent schema id ${id}: fetch failed`));
      // Remembered: the next batch does not wait for the registry again.
      expect(decoder.fetchSchemas(decoder.unwrap(record, 'pk'))).toBeUndefined();
    } finally {
      await confluent.start();
    }
  });
});
