/**
 * The COPY text a batch becomes (encodeBatch), byte for byte, for a corpus of records: every column type a
 * definition can map to, NULLs and missing paths, escapes, non-ASCII, lone surrogates, big and out-of-range
 * numbers, payloads that are not JSON or not UTF-8 (or hold NUL or a byte order mark), a KPL-aggregated
 * record and a message larger than a chunk. The expected rows are what the load path wrote when this test was
 * added (COPY text built as strings, then encoded); a change to the load path that alters any row fails here.
 * The rows a batch becomes for the engine's refusals (batchRows) must be the same text.
 */
import { describe, expect, it } from 'vitest';
import { createRecordDecoder } from '../../src/decode/record-decoder.js';
import type { StreamRecord } from '../../src/kinesis/records.js';
import { batchRows, encodeBatch, type UnwrappedRecord } from '../../src/store/copy-batch.js';
import { copyLine } from '../../src/store/copy-text.js';
import { messageDefinition, type FieldSpec } from '../decode/helpers.js';
import { aggregate } from '../support/kpl-aggregate.js';

const JSON_FIELDS: FieldSpec[] = [
  { name: 'small', type: 'smallint', mapping: 'n/small' },
  { name: 'int', type: 'integer', mapping: 'n/int' },
  { name: 'big', type: 'bigint', mapping: 'n/big' },
  { name: 'r', type: 'real', mapping: 'n/real' },
  { name: 'd', type: 'double', mapping: 'n/double' },
  { name: 'dec', type: 'decimal(6,2)', mapping: 'n/dec' },
  { name: 'num', type: 'numeric', mapping: 'n/num' },
  { name: 'flag', type: 'boolean', mapping: 'flag' },
  { name: 's', type: 'varchar', mapping: 's' },
  { name: 's3', type: 'varchar(3)', mapping: 's3' },
  { name: 'c2', type: 'char(2)', mapping: 'c2' },
  { name: 'day', type: 'date', mapping: 'day' },
  { name: 'clock', type: 'time', mapping: 'clock' },
  { name: 'at', type: 'timestamp', mapping: 'at' },
  { name: 'atz', type: 'timestamp with time zone', mapping: 'atz' },
  { name: 'epoch', type: 'timestamp with time zone', mapping: 'epoch', dataFormat: 'milliseconds-since-epoch' },
  { name: 'bin', type: 'varbinary', mapping: 'bin' },
  { name: 'doc', type: 'json', mapping: 'doc' },
  { name: 'docb', type: 'jsonb', mapping: 'list[1]' },
  { name: 'id', type: 'uuid', mapping: 'id' },
  { name: 'txt', type: 'text', mapping: 'list/0' },
];

const LONG = `${'a\tb\\c é😀 '.repeat(9_000)}end`;

const JSON_PAYLOADS: (string | Buffer)[] = [
  JSON.stringify({
    n: { small: 7, int: -2147483648, big: 42, real: 0.1, double: 2.5, dec: 1234.567, num: 1.5 },
    flag: true,
    s: 'plain',
    s3: 'abc  ',
    c2: 'é ',
    day: '2024-02-29',
    clock: '23:59:59.123456',
    at: '2024-01-02T03:04:05.678Z',
    atz: '2024-01-02T03:04:05+02:00',
    epoch: 1700000000123,
    bin: 'héllo',
    doc: { nested: [1, 'two', null, { three: true }] },
    list: ['first', { second: 2 }],
    id: '{123E4567-E89B-12D3-A456-426614174000}',
  }),
  '{}',
  '{"n":{"small":null,"big":null},"flag":null,"s":null,"doc":null,"list":[null,null]}',
  '{"s":"tab\\there\\\\back\\nline\\rcr","doc":{"k":"x\\ty\\n"},"list":["a\\tb",["\\\\"]],"s3":"a\\tb"}',
  '{"s":"é€😀 ключ","s3":"😀é","c2":"€€","txt":"lone \\ud800 surrogate","list":["\\udc00x"],"doc":{"e":"\\ud83d\\ude00"},"bin":"😀"}',
  '{"n":{"small":40000,"int":2147483648,"big":9223372036854775807,"num":123456789012345678901234567890.123456789,"dec":9999.999,"double":1.7976931348623157e308,"real":3.5e38}}',
  '{"n":{"big":9223372036854775808,"int":"42","small":"-7","double":"NaN","real":"-Infinity","num":"1e-30","dec":-0.005}}',
  '{"n":{"big":12345678901234567,"int":1.5e3,"small":1.5,"double":1e400,"real":-0.0,"num":-0}}',
  '{"flag":"yes","s":12345678901234567890,"s3":true,"c2":1.25,"doc":"a string","list":[12345678901234567890.5,[1e2,true]]}',
  '{"flag":1,"day":"2023-02-29","clock":"24:00:01","at":"not a time","atz":"1970-01-01T00:00:00Z","epoch":-1,"id":"not-a-uuid"}',
  '{"flag":"maybe","s":"nul \\u0000 inside","doc":{"k":"\\u0000"},"bin":"\\u0000","id":"123e4567e89b12d3a456426614174000"}',
  '{"s3":"abcd","c2":"abc","list":[{"deep":{"deeper":[1,2,3]}},[]]}',
  'not json\twith a tab\\ and a backslash',
  Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  Buffer.concat([Buffer.from('{"s":"before"}'), Buffer.from([0]), Buffer.from(' after')]),
  Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"s":"after a byte order mark","n":{"int":3}}')]),
  '{\r\n\t"s" : "spaced\\\\out" ,\n\t"n": {"big": -9223372036854775808}\r\n}',
  JSON.stringify({ s: LONG, txt: 'after the long one' }),
];

const CSV_FIELDS: FieldSpec[] = [
  { name: 'big', type: 'bigint', mapping: '0' },
  { name: 'name', type: 'varchar', mapping: '1' },
  { name: 'amount', type: 'decimal(10,2)', mapping: '2' },
  { name: 'day', type: 'date', mapping: '3', dataFormat: 'custom-date-time', formatHint: 'dd/MM/yyyy' },
  { name: 'ok', type: 'boolean', mapping: '4' },
  { name: 'gone', type: 'varchar', mapping: '9' },
];

const CSV_PAYLOADS = [
  '1,plain,12.345,31/12/1999,t',
  '"-2","quoted, with ""quotes"" and\ta tab",,01/01/2000,no',
  '99999999999999999999,é\\x,abc,32/01/2000,maybe',
  '"open',
];

const SEQUENCE_BASE = '4959033827149025660855969253836157109592157598913658';

function records(payloads: readonly (string | Buffer | Uint8Array)[]): StreamRecord[] {
  const partitionKeys = ['pk-1', 'tab\there', 'back\\slash', 'ключ', '', 'line\nbreak'];
  return payloads.map((payload, i) => ({
    sequenceNumber: `${SEQUENCE_BASE}${String(8000 + i * 7).padStart(6, '0')}`,
    partitionKey: partitionKeys[i % partitionKeys.length]!,
    data: typeof payload === 'string' ? Buffer.from(payload) : payload,
    // Several records of a batch in the same millisecond, and one before the epoch.
    arrivalTimestamp: new Date(i === 3 ? -1 : 1_700_000_000_000 + Math.floor(i / 3)),
  }));
}

function encoded(dataFormat: 'json' | 'csv', fields: FieldSpec[], batch: StreamRecord[], shardId: string, segment: number) {
  const decoder = createRecordDecoder(messageDefinition(dataFormat, fields), { maxMessageBytes: 1 << 20 });
  const unwrap = (): UnwrappedRecord[] => batch.map((record) => ({ record, messages: decoder.unwrap(record.data, record.partitionKey) }));
  const result = encodeBatch(unwrap(), decoder.decodeUnwrapped, shardId, segment);
  const rows = batchRows(unwrap(), decoder.decodeUnwrapped, shardId, segment);
  return { result, text: Buffer.concat(result.chunks), rowsText: rows.map((row) => copyLine(row.values)).join('') };
}

const kplRecord = aggregate([
  { partitionKey: 'inner\ta', data: Buffer.from('{"s":"first of two","n":{"big":1}}') },
  { partitionKey: 'ü', data: Buffer.from('{"s":"second\\tof two"}') },
]);

/** The text as lines of fields (a readable difference), then as bytes. */
function expectRows(text: Buffer, rows: readonly string[]): void {
  const expected = rows.map((row) => `${row}\n`).join('');
  expect(
    text
      .toString('utf8')
      .split('\n')
      .map((line) => line.split('\t')),
  ).toEqual(expected.split('\n').map((line) => line.split('\t')));
  expect(text.equals(Buffer.from(expected, 'utf8'))).toBe(true);
}

describe('the COPY text of a batch', () => {
  it('is, byte for byte, what it was for every column type and every kind of payload', () => {
    const batch = records([...JSON_PAYLOADS, kplRecord]);
    const { result, text, rowsText } = encoded('json', JSON_FIELDS, batch, 'shardId-000000000007', 41);
    expect(result.rows).toBe(JSON_PAYLOADS.length + 2);
    expect(result.invalidRows).toBe(9);
    expect(result.segmentCount).toBe(41 + batch.length);
    expect(result.textBytes).toBe(text.byteLength);
    expect(result.chunks.length).toBeGreaterThan(1);
    expectRows(text, JSON_ROWS);
    expect(rowsText).toBe(text.toString('utf8'));
  });

  it('is what it was for a CSV definition', () => {
    const { text, rowsText } = encoded('csv', CSV_FIELDS, records(CSV_PAYLOADS), 'shard\\tab', 0);
    expectRows(text, CSV_ROWS);
    expect(rowsText).toBe(text.toString('utf8'));
  });
});

/** Each row as COPY text (fields separated by \\t): the data columns, then the internal columns in INTERNAL_COLUMNS' order. */
const JSON_ROWS = [
  `7\t-2147483648\t42\t0.1\t2.5\t1234.57\t1.5\ttrue\tplain\tabc\té \t2024-02-29\t23:59:59.123456\t2024-01-02 03:04:05.678000\t2024-01-02 01:04:05.000000+00\t2023-11-14 22:13:20.123000+00\t\\\\x68c3a96c6c6f\t{"nested":[1,"two",null,{"three":true}]}\t{"second":2}\t123e4567-e89b-12d3-a456-426614174000\tfirst\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t42\tt\t{"n":{"small":7,"int":-2147483648,"big":42,"real":0.1,"double":2.5,"dec":1234.567,"num":1.5},"flag":true,"s":"plain","s3":"abc  ","c2":"é ","day":"2024-02-29","clock":"23:59:59.123456","at":"2024-01-02T03:04:05.678Z","atz":"2024-01-02T03:04:05+02:00","epoch":1700000000123,"bin":"héllo","doc":{"nested":[1,"two",null,{"three":true}]},"list":["first",{"second":2}],"id":"{123E4567-E89B-12D3-A456-426614174000}"}\t412\t2023-11-14T22:13:20.000Z\tpk-1\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008007\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t43\tt\t{}\t2\t2023-11-14T22:13:20.000Z\ttab\\there\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008014\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t44\tt\t{"n":{"small":null,"big":null},"flag":null,"s":null,"doc":null,"list":[null,null]}\t82\t2023-11-14T22:13:20.000Z\tback\\\\slash\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\ttab\\there\\\\back\\nline\\rcr\ta\\tb\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{"k":"x\\\\ty\\\\n"}\t["\\\\\\\\"]\t\\N\ta\\tb\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008021\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t45\tt\t{"s":"tab\\\\there\\\\\\\\back\\\\nline\\\\rcr","doc":{"k":"x\\\\ty\\\\n"},"list":["a\\\\tb",["\\\\\\\\"]],"s3":"a\\\\tb"}\t89\t1969-12-31T23:59:59.999Z\tключ\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\té€😀 ключ\t😀é\t€€\t\\N\t\\N\t\\N\t\\N\t\\N\t\\\\xf09f9880\t{"e":"😀"}\t\\N\t\\N\t�x\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008028\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t46\tt\t{"s":"é€😀 ключ","s3":"😀é","c2":"€€","txt":"lone \\\\ud800 surrogate","list":["\\\\udc00x"],"doc":{"e":"\\\\ud83d\\\\ude00"},"bin":"😀"}\t143\t2023-11-14T22:13:20.001Z\t\t\\N`,
  `\\N\t\\N\t9223372036854775807\t\\N\t1.7976931348623157e+308\t\\N\t123456789012345678901234567890.123456789\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008035\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t47\tf\t{"n":{"small":40000,"int":2147483648,"big":9223372036854775807,"num":123456789012345678901234567890.123456789,"dec":9999.999,"double":1.7976931348623157e308,"real":3.5e38}}\t172\t2023-11-14T22:13:20.001Z\tline\\nbreak\t\\N`,
  `-7\t42\t\\N\t-Infinity\tNaN\t-0.01\t0.000000000000000000000000000001\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008042\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t48\tf\t{"n":{"big":9223372036854775808,"int":"42","small":"-7","double":"NaN","real":"-Infinity","num":"1e-30","dec":-0.005}}\t118\t2023-11-14T22:13:20.002Z\tpk-1\t\\N`,
  `\\N\t1500\t12345678901234567\t0\t\\N\t\\N\t0\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008049\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t49\tf\t{"n":{"big":12345678901234567,"int":1.5e3,"small":1.5,"double":1e400,"real":-0.0,"num":-0}}\t91\t2023-11-14T22:13:20.002Z\ttab\\there\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\ttrue\t12345678901234567890\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t"a string"\t[1e2,true]\t\\N\t12345678901234567890.5\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008056\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t50\tf\t{"flag":"yes","s":12345678901234567890,"s3":true,"c2":1.25,"doc":"a string","list":[12345678901234567890.5,[1e2,true]]}\t119\t2023-11-14T22:13:20.002Z\tback\\\\slash\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\ttrue\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t1970-01-01 00:00:00.000000+00\t1969-12-31 23:59:59.999000+00\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008063\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t51\tf\t{"flag":1,"day":"2023-02-29","clock":"24:00:01","at":"not a time","atz":"1970-01-01T00:00:00Z","epoch":-1,"id":"not-a-uuid"}\t124\t2023-11-14T22:13:20.003Z\tключ\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\\\x00\t\\N\t\\N\t123e4567-e89b-12d3-a456-426614174000\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008070\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t52\tf\t{"flag":"maybe","s":"nul \\\\u0000 inside","doc":{"k":"\\\\u0000"},"bin":"\\\\u0000","id":"123e4567e89b12d3a456426614174000"}\t116\t2023-11-14T22:13:20.003Z\t\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t[]\t\\N\t{"deep":{"deeper":[1,2,3]}}\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008077\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t53\tf\t{"s3":"abcd","c2":"abc","list":[{"deep":{"deeper":[1,2,3]}},[]]}\t64\t2023-11-14T22:13:20.003Z\tline\\nbreak\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008084\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t54\tf\tnot json\\twith a tab\\\\ and a backslash\t36\t2023-11-14T22:13:20.004Z\tpk-1\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t��\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008091\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t55\tt\t{"s":"��"}\t10\t2023-11-14T22:13:20.004Z\ttab\\there\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008098\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t56\tf\t{"s":"before"} after\t21\t2023-11-14T22:13:20.004Z\tback\\\\slash\t\\N`,
  `\\N\t3\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tafter a byte order mark\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008105\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t57\tt\t{"s":"after a byte order mark","n":{"int":3}}\t48\t2023-11-14T22:13:20.005Z\tключ\t\\N`,
  `\\N\t\\N\t-9223372036854775808\t\\N\t\\N\t\\N\t\\N\t\\N\tspaced\\\\out\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008112\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t58\tt\t{\\r\\n\\t"s" : "spaced\\\\\\\\out" ,\\n\\t"n": {"big": -9223372036854775808}\\r\\n}\t64\t2023-11-14T22:13:20.005Z\t\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t${'a\\tb\\\\c é😀 '.repeat(9000)}end\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008119\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t59\tt\t{"s":"${'a\\\\tb\\\\\\\\c é😀 '.repeat(9000)}end","txt":"after the long one"}\t135038\t2023-11-14T22:13:20.005Z\tline\\nbreak\t\\N`,
  `\\N\t\\N\t1\t\\N\t\\N\t\\N\t\\N\t\\N\tfirst of two\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008126\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t60\tt\t{"s":"first of two","n":{"big":1}}\t34\t2023-11-14T22:13:20.006Z\tinner\\ta\t0`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tsecond\\tof two\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshardId-000000000007\t4959033827149025660855969253836157109592157598913658008126\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008126\t60\tt\t{"s":"second\\\\tof two"}\t22\t2023-11-14T22:13:20.006Z\tü\t1`,
];

const CSV_ROWS = [
  `1\tplain\t12.35\t1999-12-31\ttrue\t\\N\tshard\\\\tab\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008021\t1\tt\t1,plain,12.345,31/12/1999,t\t27\t2023-11-14T22:13:20.000Z\tpk-1\t\\N`,
  `-2\tquoted, with "quotes" and\\ta tab\t\\N\t2000-01-01\tfalse\t\\N\tshard\\\\tab\t4959033827149025660855969253836157109592157598913658008007\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008021\t2\tt\t"-2","quoted, with ""quotes"" and\\ta tab",,01/01/2000,no\t55\t2023-11-14T22:13:20.000Z\ttab\\there\t\\N`,
  `\\N\té\\\\x\t\\N\t\\N\t\\N\t\\N\tshard\\\\tab\t4959033827149025660855969253836157109592157598913658008014\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008021\t3\tf\t99999999999999999999,é\\\\x,abc,32/01/2000,maybe\t46\t2023-11-14T22:13:20.000Z\tback\\\\slash\t\\N`,
  `\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tshard\\\\tab\t4959033827149025660855969253836157109592157598913658008021\t4959033827149025660855969253836157109592157598913658008000\t4959033827149025660855969253836157109592157598913658008021\t4\tf\t"open\t5\t1969-12-31T23:59:59.999Z\tключ\t\\N`,
];
