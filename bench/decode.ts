/**
 * Decode throughput per message format, each next to a baseline measured in the same run on the same
 * payloads (for json: bare JSON.parse of the payload text), and the ratio decoder/baseline.
 * Run: npx tsx bench/decode.ts  (or through bench/run.ts, which calls runDecodeBench()).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { parseColumnType } from '../src/catalog/column-type.js';
import type { DataFormat, MessageDefinition } from '../src/catalog/definition.js';
import { createDecoder } from '../src/decode/index.js';
import { aggregate } from '../test/support/kpl-aggregate.js';
import { createRecordDecoder } from '../src/decode/record-decoder.js';
import protobuf from 'protobufjs';

const COUNT = 20_000;
const utf8 = new TextDecoder();

function definition(dataFormat: DataFormat, fields: [string, string, string?][], extra: Partial<MessageDefinition> = {}): MessageDefinition {
  return {
    dataFormat,
    compressionCodec: 'UNCOMPRESSED',
    fields: fields.map(([name, type, mapping]) => ({ name, type: parseColumnType(type), hidden: false, ...(mapping ? { mapping } : {}) })),
    ...extra,
  };
}

/** Deterministic pseudo-random numbers so every run decodes the same payloads. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

function eventObject(i: number, random: () => number, bigIds: boolean) {
  return {
    id: bigIds ? `${1_700_000_000_000_000_000n + BigInt(i)}` : i,
    user: { name: `user-${Math.floor(random() * 1000)}`, country: ['DE', 'US', 'JP'][i % 3] },
    items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 5), price: Math.round(random() * 10000) / 100 }],
    at: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    ok: i % 2 === 0,
  };
}

function jsonPayloads(bigIds: boolean): Uint8Array[] {
  const random = lcg(42);
  return Array.from({ length: COUNT }, (_, i) => {
    const event = eventObject(i, random, bigIds);
    // big ids go out as JSON numbers (beyond 2^53), as tweet ids do
    const text = JSON.stringify(event).replace(/"id":"(\d+)"/, '"id":$1');
    return Buffer.from(text);
  });
}

const jsonFields: [string, string, string][] = [
  ['id', 'bigint', 'id'],
  ['name', 'varchar', 'user/name'],
  ['country', 'varchar(2)', 'user/country'],
  ['sku', 'varchar', 'items[0]/sku'],
  ['qty', 'integer', 'items[0]/qty'],
  ['price', 'decimal(10,2)', 'items[0]/price'],
  ['at', 'timestamp with time zone', 'at'],
  ['ok', 'boolean', 'ok'],
];

const PROTO_SCHEMA = `syntax = "proto3";
package bench;
import "google/protobuf/timestamp.proto";
message Event {
  int64 id = 1;
  User user = 2;
  repeated Item items = 3;
  google.protobuf.Timestamp at = 4;
  bool ok = 5;
  message User { string name = 1; string country = 2; }
  message Item { string sku = 1; int32 qty = 2; double price = 3; }
}`;

/** The same events as protobuf messages, and protobufjs's own decoder of them (the baseline). */
function protobufCase(): { payloads: Uint8Array[]; type: protobuf.Type } {
  const root = protobuf.parse(PROTO_SCHEMA, new protobuf.Root(), { keepCase: true }).root;
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  root.resolveAll();
  const type = root.lookupType('bench.Event');
  const random = lcg(42);
  const payloads = Array.from({ length: COUNT }, (_, i) => {
    const event = eventObject(i, random, true);
    const at = Date.parse(event.at);
    const message = { ...event, at: { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1_000_000 } };
    return type.encode(type.fromObject(message)).finish();
  });
  return { payloads, type };
}

interface Case {
  name: string;
  run: () => unknown;
  baselineName: string;
  baseline: () => unknown;
}

function time(fn: () => unknown): number {
  fn(); // warm-up
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

function cases(): Case[] {
  const plain = jsonPayloads(false);
  const tweets = jsonPayloads(true);
  const jsonDecoder = createDecoder(definition('json', jsonFields));
  const jsonParseAll = (payloads: Uint8Array[]) => () =>
    payloads.forEach((p) => {
      JSON.parse(utf8.decode(p));
    });

  const csvPayloads = plain.map((p) => {
    const e = JSON.parse(utf8.decode(p));
    return Buffer.from(`${e.id},"${e.user.name}",${e.user.country},${e.items[0].sku},${e.items[0].qty},${e.items[0].price},${e.at},${e.ok}`);
  });
  const csvDecoder = createDecoder(
    definition(
      'csv',
      jsonFields.map(([n, t], i) => [n, t, String(i)]),
    ),
  );

  const rawPayloads = plain.map((_, i) => {
    const b = Buffer.alloc(30);
    b.writeBigInt64BE(BigInt(i) * 1_000_003n, 0);
    b.writeInt32BE(i, 8);
    b.writeDoubleBE(i / 7, 12);
    b.write(`sku-${i % 97}`, 20);
    return b;
  });
  const rawDef = definition('raw', [
    ['id', 'bigint', '0'],
    ['qty', 'integer', '8'],
    ['price', 'double', '12'],
    ['sku', 'varchar', '20:30'],
  ]);
  rawDef.fields[0]!.dataFormat = 'LONG';
  rawDef.fields[1]!.dataFormat = 'INT';
  rawDef.fields[2]!.dataFormat = 'DOUBLE';
  const rawTyped = createDecoder(rawDef);

  const avroSchema = JSON.stringify({
    type: 'record',
    name: 'E',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'name', type: 'string' },
      { name: 'qty', type: 'int' },
      { name: 'price', type: 'double' },
      { name: 'ok', type: 'boolean' },
    ],
  });
  const zig = (v: bigint) => {
    let n = v >= 0n ? v << 1n : (-v << 1n) - 1n;
    const out: number[] = [];
    while (n >= 0x80n) {
      out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    out.push(Number(n));
    return out;
  };
  const avroPayloads = plain.map((p) => {
    const e = JSON.parse(utf8.decode(p));
    const name = [...Buffer.from(e.user.name)];
    const price = Buffer.alloc(8);
    price.writeDoubleLE(e.items[0].price);
    return Uint8Array.from([...zig(BigInt(e.id)), ...zig(BigInt(name.length)), ...name, ...zig(BigInt(e.items[0].qty)), ...price, e.ok ? 1 : 0]);
  });
  const avroDecoder = createDecoder(
    definition(
      'avro',
      [
        ['id', 'bigint', 'id'],
        ['name', 'varchar', 'name'],
        ['qty', 'integer', 'qty'],
        ['price', 'double', 'price'],
        ['ok', 'boolean', 'ok'],
      ],
      { dataSchema: avroSchema },
    ),
  );
  const avroAsJson = plain.map((p) => {
    const e = JSON.parse(utf8.decode(p));
    return Buffer.from(JSON.stringify({ id: e.id, name: e.user.name, qty: e.items[0].qty, price: e.items[0].price, ok: e.ok }));
  });

  const proto = protobufCase();
  const protobufDecoder = createDecoder(definition('protobuf', jsonFields, { dataSchema: PROTO_SCHEMA }));

  const gzipped = plain.map((p) => gzipSync(p));
  const pipelineGzip = createRecordDecoder({ ...definition('json', jsonFields), compressionCodec: 'AUTOMATIC' }, { maxMessageBytes: 1 << 20 });
  const kplRecords: Uint8Array[] = [];
  for (let i = 0; i < plain.length; i += 10) kplRecords.push(aggregate(plain.slice(i, i + 10).map((data) => ({ partitionKey: `pk-${i}`, data }))));
  const pipelinePlain = createRecordDecoder(definition('json', jsonFields), { maxMessageBytes: 1 << 20 });

  return [
    {
      name: 'json (no numbers beyond 2^53)',
      run: () =>
        plain.forEach((p) => {
          jsonDecoder.decode(p);
        }),
      baselineName: 'JSON.parse',
      baseline: jsonParseAll(plain),
    },
    {
      name: 'json (64-bit ids, lossless path)',
      run: () =>
        tweets.forEach((p) => {
          jsonDecoder.decode(p);
        }),
      baselineName: 'JSON.parse',
      baseline: jsonParseAll(tweets),
    },
    {
      name: 'csv',
      run: () =>
        csvPayloads.forEach((p) => {
          csvDecoder.decode(p);
        }),
      baselineName: 'text split(",")',
      baseline: () => {
        for (const p of csvPayloads) utf8.decode(p).split(',');
      },
    },
    {
      name: 'raw',
      run: () =>
        rawPayloads.forEach((p) => {
          rawTyped.decode(p);
        }),
      baselineName: 'DataView reads',
      baseline: () =>
        rawPayloads.forEach((p) => {
          const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
          v.getBigInt64(0);
          v.getInt32(8);
          v.getFloat64(12);
          utf8.decode(p.subarray(20, 30));
        }),
    },
    {
      name: 'avro',
      run: () =>
        avroPayloads.forEach((p) => {
          avroDecoder.decode(p);
        }),
      baselineName: 'JSON.parse of same row',
      baseline: jsonParseAll(avroAsJson),
    },
    {
      name: 'protobuf (64-bit ids, Timestamp)',
      run: () =>
        proto.payloads.forEach((p) => {
          protobufDecoder.decode(p);
        }),
      baselineName: 'protobufjs Type.decode',
      baseline: () =>
        proto.payloads.forEach((p) => {
          proto.type.decode(p);
        }),
    },
    {
      name: 'pipeline: gzip json',
      run: () =>
        gzipped.forEach((p) => {
          pipelineGzip(p, 'pk');
        }),
      baselineName: 'gunzip + JSON.parse',
      baseline: () => {
        for (const p of gzipped) JSON.parse(utf8.decode(gunzipSync(p)));
      },
    },
    {
      name: 'pipeline: KPL x10 json',
      run: () =>
        kplRecords.forEach((p) => {
          pipelinePlain(p, 'pk');
        }),
      baselineName: 'JSON.parse',
      baseline: jsonParseAll(plain),
    },
  ];
}

export async function runDecodeBench(): Promise<void> {
  const rows = cases().map((c) => {
    const decodeMs = time(c.run);
    const baselineMs = time(c.baseline);
    return {
      format: c.name,
      'decode msg/s': Math.round((COUNT / decodeMs) * 1000),
      baseline: c.baselineName,
      'baseline msg/s': Math.round((COUNT / baselineMs) * 1000),
      'time ratio': Number((decodeMs / baselineMs).toFixed(2)),
    };
  });
  console.log(`decode throughput, ${COUNT} messages per case (best of 3)`);
  console.table(rows);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runDecodeBench();
}
