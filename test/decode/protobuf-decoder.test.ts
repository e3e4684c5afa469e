import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor.js';
import { describe, expect, it } from 'vitest';
import { DefinitionError, parseDefinition } from '../../src/catalog/parse-definition.js';
import { createDecoder } from '../../src/decode/index.js';
import { createRecordDecoder } from '../../src/decode/record-decoder.js';
import { messageDefinition, type FieldSpec } from './helpers.js';

const ORDERS_PROTO = `
syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/duration.proto";

message Order {
  int64 id = 1;
  uint64 big = 2;
  sint64 delta = 3;
  fixed64 checksum = 4;
  string customer_name = 5;
  repeated Item items = 6;
  Status status = 7;
  google.protobuf.Timestamp created = 8;
  google.protobuf.Int64Value discount = 9;
  google.protobuf.StringValue note = 10;
  google.protobuf.Struct extra = 11;
  optional int32 priority = 12;
  map<string, int64> counts = 13;
  Customer customer = 14;
  double ratio = 15;
  float weight = 16;
  bool paid = 17;
  bytes blob = 18;
  repeated string tags = 19;
  google.protobuf.Duration took = 20;
  int32 quantity = 21;

  message Item { string sku = 1; int32 qty = 2; }
  enum Status { UNKNOWN = 0; PAID = 1; SHIPPED = 2; }
}

message Customer { string name = 1; Address address = 2; }
message Address { string city = 1; }
`;

function orderType(): protobuf.Type {
  const root = protobuf.parse(ORDERS_PROTO, new protobuf.Root(), { keepCase: true }).root;
  for (const file of ['timestamp', 'wrappers', 'struct', 'duration']) root.addJSON(protobuf.common.get(`google/protobuf/${file}.proto`)?.nested ?? {});
  root.resolveAll();
  return root.lookupType('shop.Order');
}

const Order = orderType();
const encode = (object: Record<string, unknown>): Uint8Array => Order.encode(Order.fromObject(object)).finish();

function decoderFor(specs: FieldSpec[], extra: Record<string, unknown> = {}) {
  return createDecoder(messageDefinition('protobuf', specs, { dataSchema: ORDERS_PROTO, ...extra }));
}

const full = {
  id: '9007199254740993',
  big: '18446744073709551615',
  delta: '-9223372036854775808',
  checksum: '12345678901234567890',
  customer_name: 'Ada',
  items: [
    { sku: 'A-1', qty: 2 },
    { sku: 'B-2', qty: 5 },
  ],
  status: 'SHIPPED',
  created: { seconds: 1_700_000_000, nanos: 123_456_789 },
  discount: { value: '9223372036854775807' },
  note: { value: 'gift' },
  extra: { fields: { color: { stringValue: 'red' }, sizes: { listValue: { values: [{ numberValue: 1 }, { nullValue: 0 }] } } } },
  priority: 0,
  counts: { apples: '9007199254740995' },
  customer: { name: 'Ada', address: { city: 'Lund' } },
  ratio: 0.25,
  weight: 0.1,
  paid: true,
  blob: Buffer.from([1, 2, 255]),
  tags: ['a', 'b'],
  took: { seconds: 90, nanos: 500_000_000 },
};

describe('the protobuf decoder', () => {
  it('decodes nested paths, repeated indexes, enums by name and 64-bit integers exactly', () => {
    const decoder = decoderFor([
      { name: 'id', type: 'bigint', mapping: 'id' },
      { name: 'big', type: 'decimal(20,0)', mapping: 'big' },
      { name: 'delta', type: 'bigint', mapping: 'delta' },
      { name: 'checksum', type: 'varchar', mapping: 'checksum' },
      { name: 'name', type: 'varchar', mapping: 'customer_name' },
      { name: 'sku', type: 'varchar', mapping: 'items[1]/sku' },
      { name: 'qty', type: 'integer', mapping: 'items/0/qty' },
      { name: 'status', type: 'varchar', mapping: 'status' },
      { name: 'city', type: 'varchar', mapping: 'customer/address/city' },
      { name: 'apples', type: 'bigint', mapping: 'counts/apples' },
      { name: 'ratio', type: 'double', mapping: 'ratio' },
      { name: 'weight', type: 'real', mapping: 'weight' },
      { name: 'paid', type: 'boolean', mapping: 'paid' },
      { name: 'blob', type: 'varbinary', mapping: 'blob' },
      { name: 'tags', type: 'json', mapping: 'tags' },
      { name: 'items', type: 'json', mapping: 'items' },
      { name: 'counts', type: 'json', mapping: 'counts' },
      { name: 'customer', type: 'json', mapping: 'customer' },
    ]);
    const row = decoder.decode(encode(full));
    expect(row.valid).toBe(true);
    expect(row.values).toEqual([
      '9007199254740993',
      '18446744073709551615',
      '-9223372036854775808',
      '12345678901234567890',
      'Ada',
      'B-2',
      '2',
      'SHIPPED',
      'Lund',
      '9007199254740995',
      '0.25',
      '0.1',
      'true',
      '\\x0102ff',
      '["a","b"]',
      '[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5}]',
      '{"apples":9007199254740995}',
      '{"name":"Ada","address":{"city":"Lund"}}',
    ]);
  });

  it('reads Timestamp as timestamptz, wrappers as their value, Struct as JSON, Duration as text', () => {
    const decoder = decoderFor([
      { name: 'created', type: 'timestamp with time zone', mapping: 'created' },
      { name: 'discount', type: 'bigint', mapping: 'discount' },
      { name: 'note', type: 'varchar', mapping: 'note' },
      { name: 'extra', type: 'json', mapping: 'extra' },
      { name: 'color', type: 'varchar', mapping: 'extra/color' },
      { name: 'size', type: 'double', mapping: 'extra/sizes[0]' },
      { name: 'took', type: 'varchar', mapping: 'took' },
    ]);
    const row = decoder.decode(encode(full));
    expect(row).toEqual({
      valid: true,
      values: ['2023-11-14 22:13:20.123456+00', '9223372036854775807', 'gift', '{"color":"red","sizes":[1,null]}', 'red', '1', '90.5s'],
    });
  });

  it('gives NULL for unset messages, wrappers and optional fields, and the default for plain proto3 scalars', () => {
    const decoder = decoderFor([
      { name: 'created', type: 'timestamptz', mapping: 'created' },
      { name: 'discount', type: 'bigint', mapping: 'discount' },
      { name: 'priority', type: 'integer', mapping: 'priority' },
      { name: 'quantity', type: 'integer', mapping: 'quantity' },
      { name: 'name', type: 'varchar', mapping: 'customer_name' },
      { name: 'status', type: 'varchar', mapping: 'status' },
      { name: 'sku', type: 'varchar', mapping: 'items[3]/sku' },
      { name: 'city', type: 'varchar', mapping: 'customer/address/city' },
    ]);
    expect(decoder.decode(encode({ priority: 0 }))).toEqual({ valid: true, values: [null, null, '0', '0', '', 'UNKNOWN', null, null] });
    expect(decoder.decode(encode({})).values.slice(0, 3)).toEqual([null, null, null]);
  });

  it('skips fields its schema does not know (a newer writer) and keeps the rest', () => {
    const decoder = decoderFor([{ name: 'name', type: 'varchar', mapping: 'customer_name' }]);
    const newer = Buffer.concat([Buffer.from(encode({ customer_name: 'Ada' })), Buffer.from([0xc8, 0x3e, 0x07, 0xd2, 0x3e, 0x02, 0x68, 0x69])]);
    expect(decoder.decode(newer)).toEqual({ valid: true, values: ['Ada'] });
  });

  it('turns bytes that are no message into an invalid row, never an exception', () => {
    const decoder = decoderFor([{ name: 'name', type: 'varchar', mapping: 'customer_name' }]);
    for (const garbage of [[0xff, 0xff, 0xff], [0x2a, 0x10, 0x41], [0x0f], Array.from({ length: 64 }, (_, i) => (i * 37) % 256)]) {
      expect(decoder.decode(Uint8Array.from(garbage))).toEqual({ valid: false, values: [null] });
    }
    const record = createRecordDecoder(
      messageDefinition('protobuf', [{ name: 'name', type: 'varchar', mapping: 'customer_name' }], { dataSchema: ORDERS_PROTO }),
      {
        maxMessageBytes: 1024,
      },
    );
    expect(record(Uint8Array.from([0x2a, 0xff]), 'pk')[0]?.row.valid).toBe(false);
  });

  it('marks a value the column cannot hold invalid, as the other formats do', () => {
    const decoder = decoderFor([{ name: 'big', type: 'bigint', mapping: 'big' }]);
    expect(decoder.decode(encode({ big: '18446744073709551615' }))).toEqual({ valid: false, values: [null] });
  });

  it('decodes the messageType the definition names', () => {
    const decoder = decoderFor([{ name: 'city', type: 'varchar', mapping: 'address/city' }], { messageType: 'shop.Customer' });
    const Customer = Order.root.lookupType('shop.Customer');
    expect(decoder.decode(Customer.encode(Customer.fromObject({ name: 'x', address: { city: 'Oslo' } })).finish()).values).toEqual(['Oslo']);
  });
});

describe('protobuf definitions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinesql-proto-'));
  writeFileSync(join(dir, 'orders.proto'), ORDERS_PROTO);
  const set = Order.root.toDescriptor('proto3');
  writeFileSync(join(dir, 'orders.desc'), descriptor.FileDescriptorSet.encode(set).finish());
  const options = {
    defaultSchema: 'public',
    readRelativeFile: (path: string) => readFileSync(join(dir, path), 'utf8'),
    readRelativeBytes: (path: string) => readFileSync(join(dir, path)),
  };
  const definition = (message: Record<string, unknown>) =>
    JSON.stringify({
      tableName: 'orders',
      streamName: 'orders',
      message: { dataFormat: 'protobuf', fields: [{ name: 'city', type: 'varchar', mapping: 'customer/address/city' }], ...message },
    });
  const parse = (message: Record<string, unknown>) => parseDefinition(definition(message), 'orders.json', 'v1', options);
  const errorOf = (message: Record<string, unknown>): DefinitionError => {
    try {
      parse(message);
    } catch (error) {
      if (error instanceof DefinitionError) return error;
      throw error;
    }
    throw new Error('no error');
  };
  const row = encode({ customer: { address: { city: 'Lund' } } });

  it('take the schema from a .proto file, inline text or a descriptor set file, with the same result', () => {
    for (const dataSchema of ['orders.proto', ORDERS_PROTO, 'orders.desc']) {
      const parsed = parse({ dataSchema, messageType: 'shop.Order' });
      expect(createDecoder(parsed.message).decode(row).values).toEqual(['Lund']);
    }
    expect(parse({ dataSchema: 'orders.desc', messageType: 'shop.Order' }).message.descriptorSet).toBeDefined();
  });

  it('report a schema, type or mapping that does not fit with the file and field', () => {
    expect(errorOf({ dataSchema: 'syntax = "proto3"; message { }' })).toMatchObject({ path: 'message.dataSchema' });
    expect(errorOf({ dataSchema: ORDERS_PROTO, messageType: 'shop.Nope' })).toMatchObject({ path: 'message.messageType' });
    expect(errorOf({ dataSchema: ORDERS_PROTO, fields: [{ name: 'x', type: 'varchar', mapping: 'customer/adress/city' }] })).toMatchObject({
      path: 'message.fields[0].mapping',
      message: expect.stringContaining('no field "adress" in message shop.Customer'),
    });
    expect(errorOf({ dataSchema: 'missing.proto' }).message).toContain('orders.json: message.dataSchema: cannot read schema file "missing.proto"');
    expect(errorOf({}).path).toBe('message.dataSchema');
    expect(errorOf({ dataSchema: ORDERS_PROTO, schemaRegistry: { type: 'confluent', subject: 'orders-value' } }).path).toBe('message.schemaRegistry');
    expect(errorOf({ schemaRegistry: { type: 'kafka' } }).path).toBe('message.schemaRegistry.type');
  });

  it('may name a registry instead of a schema', () => {
    expect(parse({ schemaRegistry: 'confluent' }).message.schemaRegistry).toEqual({ type: 'confluent' });
    expect(parse({ schemaRegistry: { type: 'glue', registryName: 'shop', schemaName: 'orders', version: 3 } }).message.schemaRegistry).toEqual({
      type: 'glue',
      registryName: 'shop',
      schemaName: 'orders',
      version: 3,
    });
  });
});
