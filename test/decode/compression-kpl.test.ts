import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompress } from '../../src/decode/compression.js';
import { deaggregate } from '../../src/decode/kpl.js';
import { aggregate, ProtobufWriter } from '../support/kpl-aggregate.js';
import { createHash } from 'node:crypto';
import { bytes } from './helpers.js';

const text = (data: Uint8Array) => Buffer.from(data).toString();

describe('decompress', () => {
  const plain = bytes('{"a":1}');
  it('GZIP requires gzip data', () => {
    expect(decompress(gzipSync(plain), 'GZIP', 100)).toMatchObject({ ok: true });
    expect(text((decompress(gzipSync(plain), 'GZIP', 100) as { data: Uint8Array }).data)).toBe('{"a":1}');
    expect(decompress(plain, 'GZIP', 100).ok).toBe(false);
    expect(decompress(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 'GZIP', 100).ok).toBe(false);
  });

  it('AUTOMATIC gunzips gzip, inflates zlib, passes anything else through', () => {
    const auto = (data: Uint8Array) => decompress(data, 'AUTOMATIC', 100);
    expect(text((auto(gzipSync(plain)) as { data: Uint8Array }).data)).toBe('{"a":1}');
    expect(text((auto(deflateSync(plain)) as { data: Uint8Array }).data)).toBe('{"a":1}');
    expect(text((auto(plain) as { data: Uint8Array }).data)).toBe('{"a":1}');
    expect(text((auto(bytes('x^ looks like zlib')) as { data: Uint8Array }).data)).toBe('x^ looks like zlib');
  });

  it('stops at the size limit instead of inflating a bomb', () => {
    const bomb = gzipSync(Buffer.alloc(5_000_000));
    expect(decompress(bomb, 'AUTOMATIC', 4096)).toEqual({ ok: false, error: expect.stringMatching(/limit of 4096/) });
    expect(decompress(deflateSync(Buffer.alloc(5_000_000)), 'AUTOMATIC', 4096).ok).toBe(false);
    expect(decompress(Buffer.alloc(4097), 'UNCOMPRESSED', 4096).ok).toBe(false);
    expect(decompress(gzipSync(Buffer.alloc(4096)), 'GZIP', 4096).ok).toBe(true);
  });
});

describe('KPL de-aggregation', () => {
  it('round-trips aggregate() with key tables and optional explicit hash keys', () => {
    const records = [
      { partitionKey: 'p1', data: bytes('one') },
      { partitionKey: 'p2', explicitHashKey: '12345', data: bytes('two') },
      { partitionKey: 'p1', data: new Uint8Array(0) },
    ];
    const result = deaggregate(aggregate(records));
    expect(result.kind).toBe('aggregated');
    if (result.kind !== 'aggregated') return;
    expect(result.records.map((r) => ({ ...r, data: text(r.data) }))).toEqual(records.map((r) => ({ ...r, data: text(r.data) })));
    expect('explicitHashKey' in (result.records[0] as object)).toBe(false);
  });

  it('treats records without the magic as plain', () => {
    expect(deaggregate(bytes('{"a":1}'))).toEqual({ kind: 'plain' });
  });

  it('reports a bad digest, a truncated record and an out-of-range index as corrupt', () => {
    const good = aggregate([{ partitionKey: 'k', data: bytes('x') }]);
    const tampered = Uint8Array.from(good);
    tampered[6] = (tampered[6] as number) ^ 1;
    expect(deaggregate(tampered).kind).toBe('corrupt');
    expect(deaggregate(good.subarray(0, 10)).kind).toBe('corrupt');
    const record = new ProtobufWriter().varintField(1, 3).bytesField(3, bytes('x')).finish();
    const body = new ProtobufWriter().stringField(1, 'only').bytesField(3, record).finish();
    const framed = Buffer.concat([Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2), body, createHash('md5').update(body).digest()]);
    expect(deaggregate(framed)).toEqual({ kind: 'corrupt', error: expect.stringMatching(/partition_key_index 3/) });
  });
});
