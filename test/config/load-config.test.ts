import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { readFileSync } from 'node:fs';
import { ConfigError, knownConfigKeys, loadConfig } from '../../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'kinesql-config-'));
let fileCount = 0;
function propertiesFile(text: string): string {
  const file = join(dir, `kinesis-${fileCount++}.properties`);
  writeFileSync(file, text);
  return file;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the defaults with nothing set', () => {
    const config = loadConfig({ env: {} });
    expect(config).toEqual(DEFAULT_CONFIG);
  });

  it('loads the commented sample config/kinesql.properties without warnings', () => {
    const config = loadConfig({ file: fileURLToPath(new URL('../../config/kinesql.properties', import.meta.url)), env: {} });
    expect(config.warnings).toBeUndefined();
    expect(config.catalog.tablesLocation).toBe('config/tables');
    expect(config.catalog.refreshIntervalMs).toBe(10_000);
    expect(config.read.sleepTimeMs).toBe(200);
  });

  it('reads a presto-kinesis file with the old spellings', () => {
    const file = propertiesFile(
      [
        'connector.name=kinesis',
        'kinesis.default-schema=Streams',
        'kinesis.table-description-dir=etc/kinesis',
        'kinesis.table-description-refresh-interval=5m',
        'kinesis.hide-internal-columns=TRUE',
        'kinesis.access-key=AKIDEXAMPLE',
        'kinesis.secret-key=secret',
        'kinesis.aws-region=eu-west-1',
        'kinesis.batch-size=500',
        'kinesis.max-batches=600',
        'kinesis.fetch-attempts=3',
        'kinesis.sleep-time=1.5s',
        'kinesis.iter-from-timestamp=false',
        'kinesis.iter-offset-seconds=3600',
        'kinesis.log-batches=true',
        'kinesis.checkpoint-enabled=true',
        'kinesis.checkpoint-logical-name=etl',
        'kinesis.iteration-number=4',
        'kinesis.dynamo-read-capacity=50',
        'kinesis.dynamo-write-capacity=10',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {} });
    expect(config.warnings).toBeUndefined();
    expect(config.catalog).toEqual({ tablesLocation: 'etc/kinesis', defaultSchema: 'streams', refreshIntervalMs: 300_000, hideInternalColumns: true });
    expect(config.aws).toMatchObject({ region: 'eu-west-1', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
    expect(config.read).toMatchObject({
      batchSize: 500,
      maxBatches: 600,
      fetchAttempts: 3,
      sleepTimeMs: 1500,
      iterFromTimestamp: false,
      iterOffsetSeconds: 3600,
      logBatches: true,
    });
    expect(config.checkpoint).toEqual({ enabled: true, logicalName: 'etl', iterationNumber: 4, dynamoReadCapacity: 50, dynamoWriteCapacity: 10 });
  });

  it('reads a Trino file with the new spellings', () => {
    const file = propertiesFile(
      [
        'kinesis.table-description-location=s3://defs/tables/',
        'kinesis.iterator-from-timestamp=false',
        'kinesis.iterator-offset-seconds=60',
        'kinesis.iterator-number=2',
        'kinesis.table-description-refresh-interval=750',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {} });
    expect(config.catalog.tablesLocation).toBe('s3://defs/tables/');
    expect(config.catalog.refreshIntervalMs).toBe(750);
    expect(config.read.iterFromTimestamp).toBe(false);
    expect(config.read.iterOffsetSeconds).toBe(60);
    expect(config.checkpoint?.iterationNumber).toBe(2);
  });

  it("loads a Trino catalog file as shipped with the connector: its `default` schema is kinesql's `public`", () => {
    const file = propertiesFile(
      [
        '# Configuration for the kinesis connector',
        'connector.name=kinesis',
        '',
        'kinesis.default-schema=default',
        'kinesis.aws-region=us-east-1',
        'kinesis.hide-internal-columns=false',
        'kinesis.batch-size=10000',
        'kinesis.max-batches=100',
        'kinesis.fetch-attempts=2',
        'kinesis.sleep-time=1000ms',
        'kinesis.iterator-from-timestamp=true',
        'kinesis.iterator-offset-seconds=86400',
        '#kinesis.log-batches=true',
        'kinesis.checkpoint-enabled=false',
        'kinesis.checkpoint-interval-ms=60000ms',
        'kinesis.checkpoint-logical-name=process1',
        'kinesis.iterator-number=0',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {} });
    expect(config.warnings).toBeUndefined();
    expect(config.catalog.defaultSchema).toBe('public');
    expect(config.read).toMatchObject({ batchSize: 10_000, maxBatches: 100, fetchAttempts: 2, sleepTimeMs: 1000 });
    expect(config.checkpoint).toEqual({ enabled: false, logicalName: 'process1', iterationNumber: 0, intervalMs: 60_000 });
  });

  it('caps kinesis.batch-size at what GetRecords allows, with a warning', () => {
    const file = propertiesFile('kinesis.batch-size=50000\n');
    const config = loadConfig({ file, env: {} });
    expect(config.read.batchSize).toBe(10_000);
    expect(config.warnings).toEqual([`${file} line 1: kinesis.batch-size=50000 is more than GetRecords allows; 10000 is used`]);
  });

  it('uses kinesis.table-descriptions-s3 over the directory, as presto-kinesis did, and says so', () => {
    const file = propertiesFile('kinesis.table-descriptions-s3=s3://b/p\nkinesis.table-description-dir=etc/kinesis\n');
    const config = loadConfig({ file, env: {} });
    expect(config.catalog.tablesLocation).toBe('s3://b/p');
    expect(config.warnings?.join('\n')).toMatch(/kinesis.table-description-dir and kinesis.table-descriptions-s3 are both set/);
  });

  it('layers flags over the file over the environment', () => {
    const env = {
      AWS_DEFAULT_REGION: 'ap-south-1',
      AWS_REGION: 'eu-north-1',
      KINESQL_PORT: '6000',
      KINESQL_HOST: '0.0.0.0',
      KINESQL_LOG_LEVEL: 'debug',
      KINESQL_MAX_MESSAGE_BYTES: '1024',
    };
    expect(loadConfig({ env }).aws.region).toBe('eu-north-1');
    expect(loadConfig({ env: { AWS_DEFAULT_REGION: 'ap-south-1' } }).aws.region).toBe('ap-south-1');

    const file = propertiesFile('kinesql.port=7000\nkinesis.aws-region=us-west-2\nkinesql.log-level=warn\n');
    const fromFile = loadConfig({ file, env });
    expect(fromFile.server).toEqual({ host: '0.0.0.0', port: 7000 });
    expect(fromFile.aws.region).toBe('us-west-2');
    expect(fromFile.logLevel).toBe('warn');
    expect(fromFile.read.maxMessageBytes).toBe(1024);

    const fromFlags = loadConfig({
      file,
      env,
      flags: {
        port: 8000,
        region: 'sa-east-1',
        tables: 's3://x/y',
        kinesisEndpoint: 'http://127.0.0.1:4567',
        s3Endpoint: 'http://127.0.0.1:9000',
        dataDir: '/tmp/d',
        logLevel: 'error',
        host: '::1',
      },
    });
    expect(fromFlags.server).toEqual({ host: '::1', port: 8000 });
    expect(fromFlags.aws).toMatchObject({ region: 'sa-east-1', kinesisEndpoint: 'http://127.0.0.1:4567', s3Endpoint: 'http://127.0.0.1:9000' });
    expect(fromFlags.catalog.tablesLocation).toBe('s3://x/y');
    expect(fromFlags.dataDir).toBe('/tmp/d');
    expect(fromFlags.logLevel).toBe('error');
  });

  it('reads the file named by the configFile flag', () => {
    const file = propertiesFile('kinesql.port=7100\n');
    expect(loadConfig({ env: {}, flags: { configFile: file } }).server.port).toBe(7100);
    expect(loadConfig({ env: {}, flags: { configFile: file } }).configFile).toBe(file);
  });

  it("takes an engine URL in libpq's socket form (host in the query string), and refuses one without a user", () => {
    const socket = 'postgresql://admin:secret@/kinesql?host=%2Ftmp%2Fengine&port=5432';
    expect(loadConfig({ env: {}, flags: { engineUrl: socket } }).engine.url).toBe(socket);
    expect(loadConfig({ env: {}, flags: { engineUrl: 'postgresql://admin:secret@db:5432/kinesql' } }).engine.url).toBe(
      'postgresql://admin:secret@db:5432/kinesql',
    );
    expect(() => loadConfig({ env: {}, flags: { engineUrl: 'postgresql:///kinesql?host=/tmp' } })).toThrow(ConfigError);
  });

  it('reads the time-partition settings, refusing a partition interval under a second', () => {
    const config = loadConfig({ env: {}, flags: { configFile: propertiesFile('kinesql.partition-by-time=false\nkinesql.partition-interval=15m\n') } });
    expect(config.scan?.partitionByTime).toBe(false);
    expect(config.scan?.partitionIntervalMs).toBe(900_000);
    expect(() => loadConfig({ env: {}, flags: { configFile: propertiesFile('kinesql.partition-interval=500ms\n') } })).toThrow(ConfigError);
  });

  it('reads how closed partitions are stored', () => {
    const config = loadConfig({ env: {}, flags: { configFile: propertiesFile('kinesql.closed-partition-storage=Columnar\n') } });
    expect(config.scan?.closedPartitionStorage).toBe('columnar');
  });

  it('warns about unknown and repeated keys, naming them', () => {
    const file = propertiesFile('kinesis.batch-size=10\nkinesis.batchsize=20\nkinesis.batch-size=30\n');
    const config = loadConfig({ file, env: {} });
    expect(config.read.batchSize).toBe(30);
    expect(config.warnings).toEqual([
      `${file} line 2: unknown key kinesis.batchsize is ignored`,
      `${file} line 3: kinesis.batch-size is set again; the last value is used`,
    ]);
  });

  it.each([
    ['kinesis.batch-size=0', 'kinesis.batch-size', /"0" is not valid; expected an integer of at least 1/],
    [`kinesis.default-schema=${'s'.repeat(64)}`, 'kinesis.default-schema', /at most 63 bytes/],
    ['kinesis.checkpoint-interval-ms=soon', 'kinesis.checkpoint-interval-ms', /expected a duration/],
    ['kinesis.batch-size=ten', 'kinesis.batch-size', /expected an integer/],
    ['kinesis.hide-internal-columns=yes', 'kinesis.hide-internal-columns', /expected true or false/],
    ['kinesis.sleep-time=fast', 'kinesis.sleep-time', /expected a duration such as 500ms, 10s/],
    ['kinesis.table-description-refresh-interval=10 parsecs', 'kinesis.table-description-refresh-interval', /expected a duration/],
    ['kinesis.table-description-refresh-interval=0s', 'kinesis.table-description-refresh-interval', /of at least 1ms/],
    ['kinesis.table-descriptions-s3=/etc/kinesis', 'kinesis.table-descriptions-s3', /expected an s3:\/\/bucket\/prefix URI/],
    ['kinesis.table-description-location=s3://', 'kinesis.table-description-location', /expected a directory path or an s3/],
    ['kinesql.port=70000', 'kinesql.port', /between 0 and 65535/],
    ['kinesql.kinesis-endpoint=localhost:4567', 'kinesql.kinesis-endpoint', /expected an http:\/\/ or https:\/\/ URL/],
    ['kinesql.log-level=loud', 'kinesql.log-level', /expected one of fatal, error/],
    ['kinesql.closed-partition-storage=parquet', 'kinesql.closed-partition-storage', /expected heap or columnar/],
    ['kinesis.access-key=AKID', 'kinesis.secret-key', /must be set together/],
  ])('rejects %s naming %s', (line, key, problem) => {
    const file = propertiesFile(`# a comment\n${line}\n`);
    const error = configError(() => loadConfig({ file, env: {} }));
    expect(error.key).toBe(key);
    expect(error.message).toContain(key);
    expect(error.message).toMatch(problem);
  });

  it('names the line of a bad value, the environment variable and the flag', () => {
    const file = propertiesFile('\n\nkinesis.batch-size=x\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toContain(`(${file} line 3)`);
    const fromEnv = configError(() => loadConfig({ env: { KINESQL_PORT: 'http' } }));
    expect(fromEnv.key).toBe('KINESQL_PORT');
    expect(fromEnv.where).toBe('environment');
    const fromFlag = configError(() => loadConfig({ env: {}, flags: { port: -1 } }));
    expect(fromFlag.key).toBe('--port');
  });

  it('names a config file that cannot be read', () => {
    const error = configError(() => loadConfig({ file: join(dir, 'missing.properties'), env: {} }));
    expect(error.message).toMatch(/missing.properties.*ENOENT/);
  });

  it('reads kinesql.require-tls, and refuses it without a TLS certificate and key', () => {
    const withTls = loadConfig({
      file: propertiesFile('kinesql.tls-cert=/etc/kinesql/server.crt\nkinesql.tls-key=/etc/kinesql/server.key\nkinesql.require-tls=true\n'),
      env: {},
    });
    expect(withTls.wire).toMatchObject({ requireTls: true, tlsCertFile: '/etc/kinesql/server.crt' });
    expect(loadConfig({ env: { KINESQL_REQUIRE_TLS: 'false' } }).wire?.requireTls).toBe(false);
    const file = propertiesFile('kinesql.require-tls=true\n');
    const error = configError(() => loadConfig({ file, env: {} }));
    expect(error.key).toBe('kinesql.require-tls');
    expect(error.message).toContain('kinesql.tls-cert');
    expect(configError(() => loadConfig({ env: { KINESQL_REQUIRE_TLS: 'true', KINESQL_TLS_CERT: '/c.pem' } })).key).toBe('kinesql.require-tls');
    expect(configError(() => loadConfig({ env: { KINESQL_REQUIRE_TLS: 'yes' } })).key).toBe('KINESQL_REQUIRE_TLS');
  });

  it('reads the login limits: authentication timeout, pending logins per address, sessions per user', () => {
    const file = propertiesFile('kinesql.authentication-timeout=5s\nkinesql.max-pending-logins-per-address=3\nkinesql.max-sessions-per-user=2\n');
    expect(loadConfig({ file, env: {} }).wire).toEqual({ authenticationTimeoutMs: 5_000, maxPendingLoginsPerAddress: 3, maxSessionsPerUser: 2 });
    expect(configError(() => loadConfig({ file: propertiesFile('kinesql.max-pending-logins-per-address=0\n'), env: {} })).key).toBe(
      'kinesql.max-pending-logins-per-address',
    );
  });

  it('reads the schema registry keys', () => {
    const file = propertiesFile(
      [
        'kinesis.schema-registry-url=http://registry:8081/prefix',
        'kinesis.schema-registry-user-info=kinesql:secret',
        'kinesis.schema-registry-timeout=750ms',
        'kinesis.schema-registry-retry-interval=1m',
        'kinesis.glue-schema-registry=true',
        'kinesis.glue-schema-registry-region=eu-west-1',
        'kinesis.glue-schema-registry-endpoint=http://127.0.0.1:4569',
      ].join('\n'),
    );
    expect(loadConfig({ file, env: {} }).schemaRegistry).toEqual({
      url: 'http://registry:8081/prefix',
      userInfo: 'kinesql:secret',
      timeoutMs: 750,
      retryIntervalMs: 60_000,
      glue: true,
      glueRegion: 'eu-west-1',
      glueEndpoint: 'http://127.0.0.1:4569',
    });
    expect(loadConfig({ env: { KINESQL_SCHEMA_REGISTRY_URL: 'https://r.example' } }).schemaRegistry).toEqual({
      url: 'https://r.example',
      glue: false,
      timeoutMs: 2_000,
      retryIntervalMs: 10_000,
    });
    expect(configError(() => loadConfig({ file: propertiesFile('kinesis.schema-registry-url=registry:8081\n'), env: {} })).key).toBe(
      'kinesis.schema-registry-url',
    );
  });

  it('has every accepted key documented in docs/configuration.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');
    const undocumented = knownConfigKeys().filter((key) => !doc.includes(`\`${key}\``));
    expect(undocumented).toEqual([]);
    expect(knownConfigKeys().length).toBeGreaterThan(25);
  });
});
