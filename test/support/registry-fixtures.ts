/**
 * Two versions of an `Order` schema in Avro and in Protobuf, as producers evolve them (v2 adds `total`; the
 * protobuf v2 file declares another message first, so its records name Order by a message index other than
 * 0), with encoders that write what those producers send.
 */
import avsc from 'avsc';
import protobuf from 'protobufjs';

export interface OrderValues {
  id: bigint;
  customer: string;
  total?: number;
}

/** The table both schema versions' order records decode into. */
export const ORDER_FIELDS = [
  { name: 'id', type: 'BIGINT', mapping: 'id' },
  { name: 'customer', type: 'VARCHAR', mapping: 'customer' },
  { name: 'total', type: 'DOUBLE', mapping: 'total' },
];

export const AVRO_V1 = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: 'string' },
  ],
});

export const AVRO_V2 = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'total', type: 'double', default: 0 },
    { name: 'customer', type: 'string' },
  ],
});

export const PROTO_V1 = `syntax = "proto3";
package shop;
message Order {
  int64 id = 1;
  string customer = 2;
}
`;

export const PROTO_V2 = `syntax = "proto3";
package shop;
message Header {
  string source = 1;
}
message Order {
  int64 id = 1;
  string customer = 2;
  double total = 3;
  Header header = 4;
}
`;

const longType = avsc.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(value);
    return buffer;
  },
  fromJSON: (value: unknown) => BigInt(value as string),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});
const avroTypes = [AVRO_V1, AVRO_V2].map((schema) => avsc.Type.forSchema(JSON.parse(schema), { registry: { long: longType } }));

export function avroOrder(version: 1 | 2, order: OrderValues): Buffer {
  return (avroTypes[version - 1] as avsc.Type).toBuffer(version === 1 ? { id: order.id, customer: order.customer } : { total: 0, ...order });
}

function orderType(text: string): protobuf.Type {
  const root = protobuf.parse(text, new protobuf.Root(), { keepCase: true }).root;
  root.resolveAll();
  return root.lookupType('shop.Order');
}
const protoTypes = [orderType(PROTO_V1), orderType(PROTO_V2)];

export function protobufOrder(version: 1 | 2, order: OrderValues): Uint8Array {
  const type = protoTypes[version - 1] as protobuf.Type;
  const fields = version === 1 ? { id: order.id.toString(), customer: order.customer } : { ...order, id: order.id.toString(), header: { source: 'v2' } };
  return type.encode(type.fromObject(fields)).finish();
}
