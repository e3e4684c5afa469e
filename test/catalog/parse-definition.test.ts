import { describe, expect, it } from 'vitest';
import { DefinitionError, parseDefinition } from '../../src/catalog/parse-definition.js';

const OPTIONS = { defaultSchema: 'public' };
const parse = (document: unknown, options: Parameters<typeof parseDefinition>[3] = OPTIONS) =>
  parseDefinition(typeof document === 'string' ? document : JSON.stringify(document), 'tables/x.json', 'v1', options);

function errorOf(document: unknown, options?: Parameters<typeof parseDefinition>[3]): DefinitionError {
  try {
    parse(document, options);
  } catch (error) {
    if (error instanceof DefinitionError) return error;
    throw error;
  }
  throw new Error('expected a DefinitionError');
}

/** Modeled on the Trino connector's sample definition files. */
const SEED_SAMPLE = {
  tableName: 'SampleTable',
  schemaName: 'Prod',
  streamName: 'sampleStream',
  note: 'extra top-level keys are ignored',
  message: {
    dataFormat: 'JSON',
    fields: [
      { name: 'Client_ID', type: 'BIGINT', mapping: 'body/profile/clientId', comment: 'The client ID field' },
      { name: 'acct_balance', type: 'DOUBLE', mapping: 'body/account/acct_balance', hidden: 'false' },
      { name: 'service_type', type: 'VARCHAR(20)', mapping: 'header/service_type', hidden: 'TRUE' },
      { name: 'signup_date', type: 'DATE', mapping: 'body/profile/signup_date', dataFormat: 'iso8601' },
      { name: 'created', type: 'timestamp', mapping: 'ts', dataFormat: 'custom-date-time', formatHint: 'yyyy-MM-dd HH:mm:ss' },
    ],
  },
};

describe('parseDefinition: files in the Trino connector format', () => {
  it("parses the Trino connector's sample with folded identifiers, string booleans and Presto types", () => {
    const table = parse(SEED_SAMPLE);
    expect(table.tableName).toBe('sampletable');
    expect(table.schemaName).toBe('prod');
    expect(table.streamName).toBe('sampleStream');
    expect(table.source).toBe('tables/x.json');
    expect(table.version).toBe('v1');
    expect(table.message.dataFormat).toBe('json');
    expect(table.message.compressionCodec).toBe('UNCOMPRESSED');
    expect(table.message.fields.map((f) => f.name)).toEqual(['client_id', 'acct_balance', 'service_type', 'signup_date', 'created']);
    expect(table.message.fields.map((f) => f.hidden)).toEqual([false, false, true, false, false]);
    expect(table.message.fields[0]?.comment).toBe('The client ID field');
    expect(table.message.fields[2]?.type).toMatchObject({ kind: 'varchar', length: 20, sql: 'character varying(20)' });
    expect(table.message.fields[3]).toMatchObject({ type: { kind: 'date' }, dataFormat: 'iso8601' });
    expect(table.message.fields[4]).toMatchObject({ dataFormat: 'custom-date-time', formatHint: 'yyyy-MM-dd HH:mm:ss' });
  });

  it("puts a missing schemaName and the Trino connector's `default` schema into the configured default schema", () => {
    const { schemaName, ...withoutSchema } = SEED_SAMPLE;
    expect(schemaName).toBe('Prod');
    expect(parse(withoutSchema, { defaultSchema: 'streams' }).schemaName).toBe('streams');
    expect(parse({ ...SEED_SAMPLE, schemaName: 'DEFAULT' }, { defaultSchema: 'streams' }).schemaName).toBe('streams');
  });

  it('gives a definition without `message` only internal columns', () => {
    const table = parse({ tableName: 'raw_events', streamName: 'events', comment: 'just the records' });
    expect(table.message).toEqual({ dataFormat: 'dummy', compressionCodec: 'UNCOMPRESSED', fields: [] });
    expect(table.comment).toBe('just the records');
  });

  it('reads csv, raw and compression settings case-insensitively', () => {
    const csv = parse({
      tableName: 't',
      streamName: 's',
      message: {
        dataFormat: 'CSV',
        compressionCodec: 'automatic',
        fields: [
          { name: 'a', type: 'integer', mapping: 0 },
          { name: 'b', type: 'text', mapping: '12' },
        ],
      },
    });
    expect(csv.message.compressionCodec).toBe('AUTOMATIC');
    expect(csv.message.fields.map((f) => f.mapping)).toEqual(['0', '12']);
    const raw = parse({
      tableName: 't',
      streamName: 's',
      message: { dataFormat: 'raw', fields: [{ name: 'n', type: 'BIGINT', mapping: '0:8', dataFormat: 'long' }] },
    });
    expect(raw.message.fields[0]).toMatchObject({ mapping: '0:8', dataFormat: 'LONG' });
  });

  it('takes an avro schema inline, as JSON text, or from a file next to a directory definition', () => {
    const schema = { type: 'record', name: 'E', fields: [{ name: 'id', type: 'long' }] };
    const base = { tableName: 't', streamName: 's' };
    const field = [{ name: 'id', type: 'bigint', mapping: 'id' }];
    const inline = parse({ ...base, message: { dataFormat: 'avro', dataSchema: schema, fields: field } });
    expect(JSON.parse(inline.message.dataSchema ?? '')).toEqual(schema);
    const asText = parse({ ...base, message: { dataFormat: 'avro', dataSchema: JSON.stringify(schema), fields: field } });
    expect(JSON.parse(asText.message.dataSchema ?? '')).toEqual(schema);
    const asked: string[] = [];
    const fromFile = parse(
      { ...base, message: { dataFormat: 'avro', dataSchema: 'schemas/e.avsc', fields: field } },
      {
        defaultSchema: 'public',
        readRelativeFile: (path) => {
          asked.push(path);
          return JSON.stringify(schema);
        },
      },
    );
    expect(asked).toEqual(['schemas/e.avsc']);
    expect(JSON.parse(fromFile.message.dataSchema ?? '')).toEqual(schema);
    expect(errorOf({ ...base, message: { dataFormat: 'avro', dataSchema: 'schemas/e.avsc', fields: field } }).path).toBe('message.dataSchema');
  });
});

describe('parseDefinition: every error names the file and the path', () => {
  const base = { tableName: 't', streamName: 's' };
  const fieldsWith = (field: Record<string, unknown>, format = 'json') => ({
    ...base,
    message: { dataFormat: format, fields: [{ name: 'a', type: 'bigint', mapping: '0' }, { name: 'b', type: 'text', mapping: '1' }, field] },
  });

  it.each([
    ['not json {', '', /not valid JSON/],
    ['[1, 2]', '', /expected a JSON object, found an array/],
    [{ streamName: 's' }, 'tableName', /missing; expected a string/],
    [{ tableName: 't' }, 'streamName', /missing/],
    [{ tableName: 42, streamName: 's' }, 'tableName', /expected a string, found number 42/],
    [{ ...base, schemaName: 'x'.repeat(64) }, 'schemaName', /64 bytes long; expected at most 63/],
    [{ ...base, message: 'json' }, 'message', /expected an object/],
    [{ ...base, message: { fields: [] } }, 'message.dataFormat', /missing/],
    [{ ...base, message: { dataFormat: 'xml' } }, 'message.dataFormat', /unknown data format "xml"; expected one of json, csv/],
    [{ ...base, message: { dataFormat: 'json', compressionCodec: 'zip' } }, 'message.compressionCodec', /expected one of UNCOMPRESSED, GZIP, AUTOMATIC/],
    [{ ...base, message: { dataFormat: 'json', fields: {} } }, 'message.fields', /expected an array/],
    [fieldsWith({ name: 'c', type: 'FOO', mapping: '2' }), 'message.fields[2].type', /unknown column type "FOO"; expected/],
    [fieldsWith({ name: 'c', mapping: '2' }), 'message.fields[2].type', /missing/],
    [fieldsWith({ name: 'c', type: 'text' }), 'message.fields[2].mapping', /missing; expected a slash-separated path/],
    [fieldsWith({ name: 'c', type: 'text', mapping: 'x' }, 'csv'), 'message.fields[2].mapping', /not a column index/],
    [fieldsWith({ name: 'c', type: 'text', mapping: '-1' }, 'csv'), 'message.fields[2].mapping', /not a column index/],
    [fieldsWith({ name: 'c', type: 'text', mapping: '4-8' }, 'raw'), 'message.fields[2].mapping', /not a byte range; expected/],
    [fieldsWith({ name: 'c', type: 'text', mapping: '8:4' }, 'raw'), 'message.fields[2].mapping', /ends before it starts/],
    [fieldsWith({ name: 'c', type: 'int', mapping: '0', dataFormat: 'word' }, 'raw'), 'message.fields[2].dataFormat', /expected one of BYTE, SHORT/],
    [fieldsWith({ name: 'c', type: 'date', mapping: 'd', dataFormat: 'yyyy' }), 'message.fields[2].dataFormat', /unknown date format/],
    [fieldsWith({ name: 'c', type: 'date', mapping: 'd', dataFormat: 'custom-date-time' }), 'message.fields[2].formatHint', /Joda/],
    [fieldsWith({ name: 'c', type: 'text', mapping: 'c', hidden: 'yes' }), 'message.fields[2].hidden', /expected true or false/],
    [fieldsWith({ name: 'A', type: 'text', mapping: 'c' }), 'message.fields[2].name', /duplicate column name "a" \(also message.fields\[0\]/],
    [fieldsWith({ name: '_Partition_Key', type: 'text', mapping: 'c' }), 'message.fields[2].name', /internal column/],
    [fieldsWith({ name: 'é'.repeat(32), type: 'text', mapping: 'c' }), 'message.fields[2].name', /64 bytes long/],
    [fieldsWith({ name: '', type: 'text', mapping: 'c' }), 'message.fields[2].name', /must not be empty/],
    [{ ...base, message: { dataFormat: 'dummy', fields: [{ name: 'a', type: 'text' }] } }, 'message.fields', /dummy data format decodes no fields/],
    [{ ...base, message: { dataFormat: 'avro', fields: [] } }, 'message.dataSchema', /missing; the avro data format needs/],
    [{ ...base, message: { dataFormat: 'avro', dataSchema: '{ broken', fields: [] } }, 'message.dataSchema', /inline schema is not valid JSON/],
  ])('%j → %s', (document, path, problem) => {
    const error = errorOf(document);
    expect(error.source).toBe('tables/x.json');
    expect(error.path).toBe(path);
    expect(error.problem).toMatch(problem);
    expect(error.message).toBe(path === '' ? `tables/x.json: ${error.problem}` : `tables/x.json: ${path}: ${error.problem}`);
  });

  it('accepts 63-byte identifiers', () => {
    expect(parse({ ...base, tableName: 'T'.repeat(63) }).tableName).toBe('t'.repeat(63));
  });
});

/** A definition file as the Presto/Trino Kinesis connector reads it: quoted booleans, Presto type names, `default`. */
const TRINO_FILE = `{
    "tableName": "Orders",
    "schemaName": "default",
    "streamName": "orders-stream",
    "message": {
        "dataFormat": "json",
        "compressionCodec": "AUTOMATIC",
        "fields": [
            {
                "name": "order_id",
                "type": "BIGINT",
                "mapping": "order/id",
                "comment": "Id of the order"
            },
            {
                "name": "total",
                "type": "DOUBLE",
                "mapping": "order/total",
                "hidden": "false"
            },
            {
                "name": "status",
                "type": "VARCHAR(16)",
                "mapping": "order/status",
                "hidden": "true"
            },
            {
                "name": "ordered_at",
                "type": "TIMESTAMP",
                "mapping": "order/ts",
                "dataFormat": "custom-date-time",
                "formatHint": "yyyy-MM-dd HH:mm:ss"
            },
            {
                "name": "ordered_on",
                "type": "DATE",
                "mapping": "order/day",
                "dataFormat": "iso8601"
            }
        ]
    }
}
`;

describe('parseDefinition: the schema of a definition file', () => {
  it('loads a Trino connector definition file as it was, with the same result as before the schema', () => {
    const table = parse(TRINO_FILE);
    expect(table).toStrictEqual({
      schemaName: 'public',
      tableName: 'orders',
      streamName: 'orders-stream',
      message: {
        dataFormat: 'json',
        compressionCodec: 'AUTOMATIC',
        fields: [
          { name: 'order_id', type: { kind: 'bigint', sql: 'bigint' }, mapping: 'order/id', hidden: false, comment: 'Id of the order' },
          { name: 'total', type: { kind: 'double', sql: 'double precision' }, mapping: 'order/total', hidden: false },
          { name: 'status', type: { kind: 'varchar', length: 16, sql: 'character varying(16)' }, mapping: 'order/status', hidden: true },
          {
            name: 'ordered_at',
            type: { kind: 'timestamp', sql: 'timestamp without time zone' },
            mapping: 'order/ts',
            dataFormat: 'custom-date-time',
            formatHint: 'yyyy-MM-dd HH:mm:ss',
            hidden: false,
          },
          { name: 'ordered_on', type: { kind: 'date', sql: 'date' }, mapping: 'order/day', dataFormat: 'iso8601', hidden: false },
        ],
      },
      source: 'tables/x.json',
      version: 'v1',
    });
    // A built table is compared with its definition's JSON: the key order is part of what must not change.
    const { source: _source, version: _version, ...shape } = table;
    expect(JSON.stringify(shape)).toBe(
      '{"schemaName":"public","tableName":"orders","streamName":"orders-stream","message":{"dataFormat":"json","compressionCodec":"AUTOMATIC","fields":[' +
        '{"name":"order_id","type":{"kind":"bigint","sql":"bigint"},"mapping":"order/id","hidden":false,"comment":"Id of the order"},' +
        '{"name":"total","type":{"kind":"double","sql":"double precision"},"mapping":"order/total","hidden":false},' +
        '{"name":"status","type":{"kind":"varchar","length":16,"sql":"character varying(16)"},"mapping":"order/status","hidden":true},' +
        '{"name":"ordered_at","type":{"kind":"timestamp","sql":"timestamp without time zone"},"mapping":"order/ts","dataFormat":"custom-date-time","formatHint":"yyyy-MM-dd HH:mm:ss","hidden":false},' +
        '{"name":"ordered_on","type":{"kind":"date","sql":"date"},"mapping":"order/day","dataFormat":"iso8601","hidden":false}]}}',
    );
  });

  it('reads a file with a byte order mark and nulls for absent keys', () => {
    const table = parse(`\uFEFF${JSON.stringify({ tableName: 't', schemaName: null, streamName: 's', comment: null, message: null })}`);
    expect(table).toStrictEqual({
      schemaName: 'public',
      tableName: 't',
      streamName: 's',
      message: { dataFormat: 'dummy', compressionCodec: 'UNCOMPRESSED', fields: [] },
      source: 'tables/x.json',
      version: 'v1',
    });
  });

  it('ignores keys it does not know, at the top and inside message, fields and schemaRegistry, as the Trino connector did', () => {
    const table = parse({
      tableName: 't',
      streamName: 's',
      owner: 'team-a',
      tags: ['x'],
      message: {
        dataFormat: 'avro',
        dataSchema: { type: 'record', name: 'E', fields: [{ name: 'id', type: 'long' }] },
        schemaRegistry: { type: 'confluent', url: 'http://elsewhere' },
        keyFormat: 'raw',
        fields: [{ name: 'id', type: 'BIGINT', mapping: 'id', nullable: true }],
      },
    });
    expect(Object.keys(table)).toEqual(['schemaName', 'tableName', 'streamName', 'message', 'source', 'version']);
    expect(Object.keys(table.message)).toEqual(['dataFormat', 'compressionCodec', 'fields', 'dataSchema', 'schemaRegistry']);
    expect(table.message.fields[0]).toStrictEqual({ name: 'id', type: { kind: 'bigint', sql: 'bigint' }, mapping: 'id', hidden: false });
    expect(table.message.schemaRegistry).toStrictEqual({ type: 'confluent' });
  });
});

describe('parseDefinition: shape errors name the file and the field path', () => {
  const base = { tableName: 't', streamName: 's' };
  const json = (...fields: unknown[]) => ({ ...base, message: { dataFormat: 'json', fields } });
  const ok = { name: 'a', type: 'BIGINT', mapping: 'a' };
  const avro = (message: Record<string, unknown>) => ({ ...base, message: { dataFormat: 'avro', fields: [], ...message } });

  it('names the element of message.fields that is wrong', () => {
    const error = errorOf(json(ok, { ...ok, name: 'b' }, { name: 'c', type: 'INTT', mapping: 'c' }));
    expect(error.path).toBe('message.fields[2].type');
    expect(error.message).toMatch(/^tables\/x\.json: message\.fields\[2\]\.type: unknown column type "INTT"; expected .*BIGINT, INTEGER/);
    expect(errorOf(json(ok, ok, ok, 'd')).message).toBe(
      'tables/x.json: message.fields[3]: expected a field object with name, type and mapping, found the string "d"',
    );
    expect(errorOf(json(ok, ['b', 'BIGINT'])).path).toBe('message.fields[1]');
    expect(errorOf(json(ok, { type: 'BIGINT', mapping: 'b' })).message).toBe(
      'tables/x.json: message.fields[1].name: missing; expected a string (the column name)',
    );
  });

  it.each([
    [{ ...base, comment: 5 }, 'comment', 'expected a string, found number 5'],
    [{ ...base, message: [] }, 'message', 'expected an object with dataFormat and fields, found an array'],
    [{ ...base, message: { dataFormat: true } }, 'message.dataFormat', 'expected one of json, csv, raw, avro, protobuf, dummy, found boolean true'],
    [{ ...base, message: { dataFormat: 'json', compressionCodec: 3 } }, 'message.compressionCodec', 'expected a string, found number 3'],
    [{ ...base, message: { dataFormat: 'json', fields: 'a,b' } }, 'message.fields', 'expected an array of fields, found the string "a,b"'],
    [json(ok, { ...ok, name: 'b', hidden: 1 }), 'message.fields[1].hidden', 'expected true or false (or the strings "true"/"false"), found number 1'],
    [json({ ...ok, comment: ['x'] }), 'message.fields[0].comment', 'expected a string, found an array'],
    [json({ ...ok, formatHint: {} }), 'message.fields[0].formatHint', 'expected a string, found an object'],
    [json({ ...ok, dataFormat: 8601 }), 'message.fields[0].dataFormat', 'expected a string, found number 8601'],
    [
      json({ ...ok, mapping: false }),
      'message.fields[0].mapping',
      'expected a slash-separated path into the JSON message such as "user/id", found boolean false',
    ],
    [json({ ...ok, type: ['BIGINT'] }), 'message.fields[0].type', 'expected a string, found an array'],
    [
      avro({ schemaRegistry: 7 }),
      'message.schemaRegistry',
      'expected "confluent", "glue", or an object such as {"type": "confluent", "subject": "orders-value"}, found number 7',
    ],
    [
      avro({ schemaRegistry: { subject: 'x' } }),
      'message.schemaRegistry.type',
      'expected "confluent", "glue", or an object such as {"type": "confluent", "subject": "orders-value"}, found nothing',
    ],
    [avro({ schemaRegistry: { type: 'confluent', subject: 7 } }), 'message.schemaRegistry.subject', 'expected a non-empty string, found number 7'],
    [
      avro({ schemaRegistry: { type: 'glue', schemaName: 'o', version: 'v2' } }),
      'message.schemaRegistry.version',
      'expected a version number of at least 1 or "latest", found the string "v2"',
    ],
    [avro({ dataSchema: 12 }), 'message.dataSchema', 'expected an Avro schema (object or JSON text) or a file path, found number 12'],
    [
      { ...base, message: { dataFormat: 'protobuf', messageType: 1, schemaRegistry: 'glue' } },
      'message.messageType',
      'expected a non-empty string, found number 1',
    ],
    [{ ...base, message: { dataFormat: 'protobuf', descriptorSet: [] } }, 'message.descriptorSet', 'expected a FileDescriptorSet in base64, found an array'],
  ])('%j → %s', (document, path, problem) => {
    const error = errorOf(document);
    expect([error.path, error.problem]).toEqual([path, problem]);
    expect(error.message).toBe(`tables/x.json: ${path}: ${problem}`);
  });

  it('says missing, not null, for a required key that is null', () => {
    expect(errorOf({ ...base, message: { dataFormat: null } }).problem).toBe('missing; expected one of json, csv, raw, avro, protobuf, dummy');
    expect(errorOf({ ...base, tableName: null }).problem).toBe('missing; expected a string');
    expect(errorOf(json({ ...ok, mapping: null })).problem).toBe('missing; expected a slash-separated path into the JSON message such as "user/id"');
  });
});
