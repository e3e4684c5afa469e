import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { ConfluentRegistryClient } from '../../src/registry/confluent-client.js';
import { createSchemaRegistries } from '../../src/registry/from-config.js';
import { SchemaRegistries, type SchemaRegistriesOptions } from '../../src/registry/schema-registries.js';
import { testLogger } from '../support/test-logger.js';
import { startConfluentStandIn, startGlueStandIn, type ConfluentStandIn, type GlueStandIn } from '../support/schema-registry-standins.js';

const USER_PROTO = 'syntax = "proto3"; package shop; message User { string name = 1; }';
const ORDER_PROTO = 'syntax = "proto3"; package shop; import "user.proto"; import "google/protobuf/timestamp.proto"; message Order { User user = 1; }';
const AVRO_V1 = JSON.stringify({ type: 'record', name: 'E', fields: [{ name: 'id', type: 'long' }] });

describe('schema registry lookups', () => {
  let confluent: ConfluentStandIn;
  let glue: GlueStandIn;
  let clock = 0;

  beforeAll(async () => {
    confluent = await startConfluentStandIn();
    glue = await startGlueStandIn();
  });

  afterAll(async () => {
    await confluent?.close();
    await glue?.close();
  });

  const registries = (options: Partial<SchemaRegistriesOptions> = {}) =>
    new SchemaRegistries({
      confluent: new ConfluentRegistryClient({ url: confluent.url }),
      // A deadline no answering stand-in comes near on a loaded machine; the deadline test sets its own.
      timeoutMs: 30_000,
      retryIntervalMs: 30_000,
      now: () => clock,
      logger: testLogger,
      ...options,
    });

  it('fetches a Confluent schema by id once, with the schemas it references', async () => {
    confluent.register('user.proto', USER_PROTO, { schemaType: 'PROTOBUF' });
    const id = confluent.register('orders-value', ORDER_PROTO, {
      schemaType: 'PROTOBUF',
      references: [{ name: 'user.proto', subject: 'user.proto', version: 1 }],
    });
    const lookups = registries();
    const ref = { registry: 'confluent' as const, id };
    expect(lookups.lookup(ref)).toEqual({ state: 'unknown' });
    const before = confluent.requests.length;
    await lookups.fetch([ref, ref]);
    const found = lookups.lookup(ref);
    expect(found).toMatchObject({ state: 'ready', schema: { format: 'protobuf', text: ORDER_PROTO, description: `Confluent schema id ${id}` } });
    expect(found.state === 'ready' && [...found.schema.references]).toEqual([['user.proto', USER_PROTO]]);
    expect(confluent.requests.slice(before)).toEqual([`/schemas/ids/${id}`, '/subjects/user.proto/versions/1']);
    expect(lookups.fetch([ref])).toBeUndefined();
    expect(confluent.requests.length).toBe(before + 2);
  });

  it('looks up the latest version of a subject and looks again after a while, keeping the known one meanwhile', async () => {
    confluent.register('events-value', AVRO_V1);
    const lookups = registries({ latestRefreshMs: 1_000 });
    const ref = { registry: 'confluent' as const, subject: 'events-value' };
    await lookups.fetch([ref]);
    expect(lookups.lookup(ref)).toMatchObject({ state: 'ready', schema: { format: 'avro', text: AVRO_V1 } });
    const v2 = JSON.stringify({
      type: 'record',
      name: 'E',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'x', type: 'string', default: '' },
      ],
    });
    confluent.register('events-value', v2);
    clock += 2_000;
    expect(lookups.fetch([ref])).toBeUndefined();
    await expect.poll(() => lookups.lookup(ref)).toMatchObject({ state: 'ready', schema: { text: v2 } });
  });

  it('remembers a failure until the retry interval has passed, then tries again', async () => {
    const id = confluent.register('down-value', AVRO_V1);
    const lookups = registries();
    const ref = { registry: 'confluent' as const, id };
    await confluent.stop();
    try {
      await lookups.fetch([ref]);
      const failed = lookups.lookup(ref);
      expect(failed.state).toBe('failed');
      expect(failed.state === 'failed' && failed.error).toMatch(
        new RegExp(`^confluent schema id ${id}: fetch failed: (connect ECONNREFUSED|other side closed)`),
      );
      expect(lookups.fetch([ref])).toBeUndefined();
    } finally {
      await confluent.start();
    }
    const before = confluent.requests.length;
    clock += 29_000;
    expect(lookups.fetch([ref])).toBeUndefined();
    clock += 1_000;
    await lookups.fetch([ref]);
    expect(lookups.lookup(ref).state).toBe('ready');
    expect(confluent.requests.length).toBe(before + 1);
  });

  it('gives up on a registry that does not answer within the deadline', async () => {
    const id = confluent.register('slow-value', AVRO_V1);
    const lookups = registries({ timeoutMs: 200 });
    confluent.mode = 'hang';
    try {
      await lookups.fetch([{ registry: 'confluent', id }]);
    } finally {
      confluent.mode = 'up';
    }
    expect(lookups.lookup({ registry: 'confluent', id })).toEqual({ state: 'failed', error: `confluent schema id ${id}: no answer within 200 ms` });
  });

  it('says what a registry answered when it refuses', async () => {
    const lookups = registries();
    await lookups.fetch([{ registry: 'confluent', id: 999 }]);
    expect(lookups.lookup({ registry: 'confluent', id: 999 })).toEqual({
      state: 'failed',
      error: 'confluent schema id 999: GET /schemas/ids/999: HTTP 404: Schema 999 not found',
    });
    const none = new SchemaRegistries({ timeoutMs: 100, retryIntervalMs: 100 });
    await none.fetch([{ registry: 'confluent', id: 1 }]);
    expect(none.lookup({ registry: 'confluent', id: 1 })).toMatchObject({ state: 'failed', error: expect.stringContaining('kinesis.schema-registry-url') });
  });

  it('looks Glue schema versions up with the AWS SDK, by version id and by name', async () => {
    const v1 = glue.register('shop', 'orders', AVRO_V1, 'AVRO');
    const v2 = glue.register('shop', 'orders', ORDER_PROTO.replace(/import "user.proto";|User user = 1;/g, ''), 'PROTOBUF');
    const config = {
      ...DEFAULT_CONFIG,
      aws: { region: 'eu-west-1', accessKeyId: 'test', secretAccessKey: 'test' },
      schemaRegistry: { glue: true, glueEndpoint: glue.url, timeoutMs: 30_000, retryIntervalMs: 10_000 },
    };
    const { registries: lookups, close } = createSchemaRegistries(config, testLogger);
    try {
      expect(lookups.glueFraming).toBe(true);
      expect(lookups.confluentFraming).toBe(false);
      const refs = [
        { registry: 'glue' as const, versionId: v1 },
        { registry: 'glue' as const, registryName: 'shop', schemaName: 'orders' },
        { registry: 'glue' as const, versionId: '00000000-0000-0000-0000-000000000000' },
      ];
      await lookups.fetch(refs);
      expect(lookups.lookup(refs[0]!)).toMatchObject({ state: 'ready', schema: { format: 'avro', text: AVRO_V1, description: `Glue schema version ${v1}` } });
      expect(lookups.lookup(refs[1]!)).toMatchObject({ state: 'ready', schema: { format: 'protobuf' } });
      expect(lookups.lookup(refs[2]!)).toMatchObject({ state: 'failed', error: expect.stringContaining('Schema version is not found') });
      expect(glue.requests).toContain(`AWSGlue.GetSchemaVersion {"SchemaVersionId":"${v1}"}`);
      expect(v2).not.toBe(v1);
    } finally {
      close();
    }
  });
});
