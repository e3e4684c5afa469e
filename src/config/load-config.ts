import { readFileSync } from 'node:fs';
import {
  DEFAULT_CONFIG,
  DEFAULT_SCAN_CONFIG,
  DEFAULT_SCHEMA_REGISTRY_CONFIG,
  type KinesqlConfig,
  type ScanConfig,
  type SchemaRegistryConfig,
} from './config.js';
import { parseProperties, type PropertyEntry } from './properties.js';
import {
  authMethod,
  boolean,
  consumerMode,
  engineDistribution,
  closedPartitionStorage,
  consumerName,
  duration,
  durationOrOff,
  engineUrl,
  fraction,
  integer,
  logLevel,
  memorySize,
  number,
  type Parser,
  s3Location,
  schemaName,
  tablesLocation,
  text,
  url,
} from './setting-parsers.js';

/** Command-line flags that override the properties file. */
export interface CliFlags {
  host: string;
  port: number | string;
  /** Table definitions: a directory or s3://bucket/prefix. */
  tables: string;
  kinesisEndpoint: string;
  s3Endpoint: string;
  region: string;
  dataDir: string;
  engineUrl: string;
  engineReadUrl: string;
  httpPort: number | string;
  logLevel: string;
  configFile: string;
  /** Serve a non-loopback address with trust authentication anyway (logged loudly). */
  allowUnauthenticatedRemote: boolean | string;
}

export interface LoadConfigOptions {
  /** A .properties file (the Trino connector's kinesis.properties or kinesql's own); flags.configFile wins over it. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<CliFlags>;
}

/** A setting that cannot be used; names the key (or flag / environment variable) and the expected form. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${key}${where === '' ? '' : ` (${where})`}: ${problem}`);
    this.name = 'ConfigError';
  }
}

interface Setting<T> {
  /** Property spellings, lowest priority first: when a file sets several, the last one listed wins. */
  keys: readonly string[];
  /** Environment variables, lowest priority first. */
  env?: readonly string[];
  flag?: keyof CliFlags;
  parser: Parser<T>;
  apply(config: KinesqlConfig, value: T): void;
  /** A value that is accepted but not used as written. */
  warn?(value: T): string | undefined;
}

const MAX_GET_RECORDS_LIMIT = 10_000;

function checkpoint(config: KinesqlConfig): NonNullable<KinesqlConfig['checkpoint']> {
  config.checkpoint ??= { enabled: false, logicalName: 'process1', iterationNumber: 0 };
  return config.checkpoint;
}

function engine(config: KinesqlConfig): KinesqlConfig['engine'] {
  return config.engine;
}

function wire(config: KinesqlConfig): NonNullable<KinesqlConfig['wire']> {
  config.wire ??= {};
  return config.wire;
}

/** Erases a setting's value type so settings of different types fit one list. */
const setting = <T>(definition: Setting<T>): Setting<unknown> => definition as Setting<unknown>;

// ---- Stream scans (issue 7): credentials beyond static keys, timeouts, caps, progress. -------------------

function scan(config: KinesqlConfig): ScanConfig {
  config.scan ??= { ...DEFAULT_SCAN_CONFIG };
  return config.scan;
}

const SCAN_SETTINGS: readonly Setting<unknown>[] = [
  setting({ keys: ['kinesql.aws-profile'], env: ['AWS_PROFILE'], parser: text('a profile name from ~/.aws/config'), apply: (c, v) => (c.aws.profile = v) }),
  setting({ keys: ['kinesql.aws-role-arn'], env: ['KINESQL_AWS_ROLE_ARN'], parser: text('an IAM role ARN'), apply: (c, v) => (c.aws.roleArn = v) }),
  setting({ keys: ['kinesql.aws-external-id'], parser: text('an external id'), apply: (c, v) => (c.aws.externalId = v) }),
  setting({ keys: ['kinesql.aws-role-session-name'], parser: text('a session name'), apply: (c, v) => (c.aws.roleSessionName = v) }),
  setting({ keys: ['kinesql.kinesis-call-timeout'], parser: duration(1), apply: (c, v) => (scan(c).callTimeoutMs = v) }),
  setting({ keys: ['kinesql.kinesis-unresponsive-timeout'], parser: duration(1), apply: (c, v) => (scan(c).unresponsiveTimeoutMs = v) }),
  setting({ keys: ['kinesql.kinesis-max-backoff'], parser: duration(1), apply: (c, v) => (scan(c).maxBackoffMs = v) }),
  setting({ keys: ['kinesql.shard-list-interval'], parser: duration(0), apply: (c, v) => (scan(c).shardListIntervalMs = v) }),
  setting({ keys: ['kinesql.eviction-interval'], parser: duration(0), apply: (c, v) => (scan(c).evictionIntervalMs = v) }),
  setting({ keys: ['kinesql.closed-partition-storage'], parser: closedPartitionStorage, apply: (c, v) => (scan(c).closedPartitionStorage = v) }),
  setting({ keys: ['kinesql.partition-by-time'], parser: boolean, apply: (c, v) => (scan(c).partitionByTime = v) }),
  setting({ keys: ['kinesql.partition-interval'], parser: duration(1000), apply: (c, v) => (scan(c).partitionIntervalMs = v) }),
  setting({ keys: ['kinesql.max-rows-per-table'], parser: integer(0, Number.MAX_SAFE_INTEGER), apply: (c, v) => (scan(c).maxRowsPerTable = v) }),
  setting({ keys: ['kinesql.max-bytes-per-table'], parser: integer(0, Number.MAX_SAFE_INTEGER), apply: (c, v) => (scan(c).maxBytesPerTable = v) }),
  setting({ keys: ['kinesql.load-buffer-bytes'], parser: integer(1024 * 1024, Number.MAX_SAFE_INTEGER), apply: (c, v) => (scan(c).loadBufferBytes = v) }),
  setting({ keys: ['kinesql.progress-interval'], parser: duration(0), apply: (c, v) => (scan(c).progressIntervalMs = v) }),
  setting({ keys: ['kinesql.max-staleness'], parser: duration(0), apply: (c, v) => (scan(c).maxStalenessMs = v) }),
  setting({ keys: ['kinesis.read-budget-share'], parser: fraction, apply: (c, v) => (scan(c).readBudgetShare = v) }),
  setting({ keys: ['kinesql.lease-duration'], parser: duration(300), apply: (c, v) => (scan(c).leaseDurationMs = v) }),
  setting({ keys: ['kinesis.consumer-mode'], parser: consumerMode, apply: (c, v) => (scan(c).consumerMode = v) }),
  setting({ keys: ['kinesis.consumer-name'], parser: consumerName, apply: (c, v) => (scan(c).consumerName = v) }),
  setting({ keys: ['kinesis.consumer-deregister-on-exit'], parser: boolean, apply: (c, v) => (scan(c).consumerDeregisterOnExit = v) }),
];
// ---- end of stream-scan settings ----------------------------------------------------------------------

// ---- Schema registries (issue 15): Confluent and AWS Glue lookups of avro / protobuf writer schemas. -----
function registry(config: KinesqlConfig): SchemaRegistryConfig {
  config.schemaRegistry ??= { ...DEFAULT_SCHEMA_REGISTRY_CONFIG };
  return config.schemaRegistry;
}

const REGISTRY_SETTINGS: readonly Setting<unknown>[] = [
  setting({ keys: ['kinesis.schema-registry-url'], env: ['KINESQL_SCHEMA_REGISTRY_URL'], parser: url, apply: (c, v) => (registry(c).url = v) }),
  setting({ keys: ['kinesis.schema-registry-user-info'], parser: text('user:password'), apply: (c, v) => (registry(c).userInfo = v) }),
  setting({ keys: ['kinesis.schema-registry-timeout'], parser: duration(1), apply: (c, v) => (registry(c).timeoutMs = v) }),
  setting({ keys: ['kinesis.schema-registry-retry-interval'], parser: duration(0), apply: (c, v) => (registry(c).retryIntervalMs = v) }),
  setting({ keys: ['kinesis.glue-schema-registry'], parser: boolean, apply: (c, v) => (registry(c).glue = v) }),
  setting({ keys: ['kinesis.glue-schema-registry-region'], parser: text('an AWS region such as eu-west-1'), apply: (c, v) => (registry(c).glueRegion = v) }),
  setting({ keys: ['kinesis.glue-schema-registry-endpoint'], parser: url, apply: (c, v) => (registry(c).glueEndpoint = v) }),
];
// ---- end of schema-registry settings -------------------------------------------------------------------

// ---- Limits of client sessions (issue 20): ceilings a session may lower, never raise. -------------------
const LIMIT_SETTINGS: readonly Setting<unknown>[] = [
  setting({ keys: ['kinesql.lock-timeout'], parser: duration(0), apply: (c, v) => (engine(c).lockTimeoutMs = v) }),
  setting({ keys: ['kinesql.maintenance-work-mem'], parser: memorySize, apply: (c, v) => (engine(c).maintenanceWorkMem = v) }),
  setting({ keys: ['kinesql.hash-mem-multiplier'], parser: number(1, 1000), apply: (c, v) => (engine(c).hashMemMultiplier = v) }),
  setting({ keys: ['kinesql.max-parallel-workers-per-gather'], parser: integer(0, 1024), apply: (c, v) => (engine(c).maxParallelWorkersPerGather = v) }),
  setting({ keys: ['kinesql.max-window'], parser: duration(1000), apply: (c, v) => (engine(c).maxWindowSeconds = Math.floor(v / 1000)) }),
  setting({ keys: ['kinesql.parse-timeout'], parser: duration(1), apply: (c, v) => (engine(c).parseTimeoutMs = v) }),
];
// ---- end of client-session limits -----------------------------------------------------------------------

const SETTINGS: readonly Setting<unknown>[] = [
  setting({ keys: ['kinesql.host'], env: ['KINESQL_HOST'], flag: 'host', parser: text('a host name or IP address'), apply: (c, v) => (c.server.host = v) }),
  setting({ keys: ['kinesql.port'], env: ['KINESQL_PORT'], flag: 'port', parser: integer(0, 65535), apply: (c, v) => (c.server.port = v) }),
  setting({ keys: ['kinesql.data-dir'], env: ['KINESQL_DATA_DIR'], flag: 'dataDir', parser: text('a directory path'), apply: (c, v) => (c.dataDir = v) }),
  setting({ keys: ['kinesql.http-port'], env: ['KINESQL_HTTP_PORT'], flag: 'httpPort', parser: integer(0, 65535), apply: (c, v) => (c.server.httpPort = v) }),
  setting({ keys: ['kinesql.ready-requires-every-table'], parser: boolean, apply: (c, v) => (c.server.readyRequiresEveryTable = v) }),
  setting({ keys: ['kinesql.engine-url'], env: ['KINESQL_ENGINE_URL'], flag: 'engineUrl', parser: engineUrl, apply: (c, v) => (engine(c).url = v) }),
  setting({
    keys: ['kinesql.engine-read-url'],
    env: ['KINESQL_ENGINE_READ_URL'],
    flag: 'engineReadUrl',
    parser: engineUrl,
    apply: (c, v) => (engine(c).readUrl = v),
  }),
  setting({ keys: ['kinesql.engine-distribution'], parser: engineDistribution, apply: (c, v) => (engine(c).distribution = v) }),
  setting({ keys: ['kinesql.engine-read-max-wait'], parser: duration(1), apply: (c, v) => (engine(c).readMaxWaitMs = v) }),
  setting({ keys: ['kinesql.max-connections'], parser: integer(1, 10_000), apply: (c, v) => (engine(c).maxConnections = v) }),
  setting({ keys: ['kinesql.statement-timeout'], parser: duration(0), apply: (c, v) => (engine(c).statementTimeoutMs = v) }),
  setting({ keys: ['kinesql.work-mem'], parser: memorySize, apply: (c, v) => (engine(c).workMem = v) }),
  setting({ keys: ['kinesql.temp-file-limit'], parser: memorySize, apply: (c, v) => (engine(c).tempFileLimit = v) }),
  ...LIMIT_SETTINGS,
  setting({ keys: ['kinesql.log-level'], env: ['KINESQL_LOG_LEVEL'], flag: 'logLevel', parser: logLevel, apply: (c, v) => (c.logLevel = v) }),
  setting({
    keys: ['kinesql.kinesis-endpoint'],
    env: ['KINESQL_KINESIS_ENDPOINT'],
    flag: 'kinesisEndpoint',
    parser: url,
    apply: (c, v) => (c.aws.kinesisEndpoint = v),
  }),
  setting({ keys: ['kinesql.s3-endpoint'], env: ['KINESQL_S3_ENDPOINT'], flag: 's3Endpoint', parser: url, apply: (c, v) => (c.aws.s3Endpoint = v) }),
  setting({
    keys: ['kinesql.max-message-bytes'],
    env: ['KINESQL_MAX_MESSAGE_BYTES'],
    parser: integer(1, 1024 * 1024 * 1024),
    apply: (c, v) => (c.read.maxMessageBytes = v),
  }),

  // ---- client connections (wire) ----
  setting({ keys: ['kinesql.auth-method'], env: ['KINESQL_AUTH_METHOD'], parser: authMethod, apply: (c, v) => (wire(c).authMethod = v) }),
  setting({ keys: ['kinesql.users'], env: ['KINESQL_USERS'], parser: text('user:verifier pairs separated by commas'), apply: (c, v) => (wire(c).users = v) }),
  setting({ keys: ['kinesql.tls-cert'], env: ['KINESQL_TLS_CERT'], parser: text('a PEM certificate file'), apply: (c, v) => (wire(c).tlsCertFile = v) }),
  setting({ keys: ['kinesql.tls-key'], env: ['KINESQL_TLS_KEY'], parser: text('a PEM private key file'), apply: (c, v) => (wire(c).tlsKeyFile = v) }),
  setting({ keys: ['kinesql.require-tls'], env: ['KINESQL_REQUIRE_TLS'], parser: boolean, apply: (c, v) => (wire(c).requireTls = v) }),
  setting({ keys: ['kinesql.max-protocol-message-bytes'], parser: integer(1024, 1024 * 1024 * 1024), apply: (c, v) => (wire(c).maxProtocolMessageBytes = v) }),
  setting({ keys: ['kinesql.idle-in-transaction-timeout'], parser: duration(1), apply: (c, v) => (wire(c).idleInTransactionTimeoutMs = v) }),
  setting({ keys: ['kinesql.log-min-duration-statement'], parser: durationOrOff, apply: (c, v) => (wire(c).logMinDurationStatementMs = v) }),
  setting({ keys: ['kinesql.authentication-timeout'], parser: duration(1), apply: (c, v) => (wire(c).authenticationTimeoutMs = v) }),
  setting({ keys: ['kinesql.max-pending-logins-per-address'], parser: integer(1, 100_000), apply: (c, v) => (wire(c).maxPendingLoginsPerAddress = v) }),
  setting({ keys: ['kinesql.max-sessions-per-user'], parser: integer(0, 100_000), apply: (c, v) => (wire(c).maxSessionsPerUser = v) }),
  setting({
    keys: ['kinesql.client-write-timeout'],
    parser: duration(1),
    apply: () => undefined,
    warn: () => 'kinesql.client-write-timeout has no effect: a client that does not read its results holds up only its own engine backend',
  }),
  setting({
    keys: ['kinesql.allow-unauthenticated-remote'],
    env: ['KINESQL_ALLOW_UNAUTHENTICATED_REMOTE'],
    flag: 'allowUnauthenticatedRemote',
    parser: boolean,
    apply: (c, v) => (wire(c).allowUnauthenticatedRemote = v),
  }),
  // ---- end of client connections ----

  setting({ keys: ['kinesis.default-schema'], parser: schemaName, apply: (c, v) => (c.catalog.defaultSchema = v) }),
  setting({
    // presto-kinesis used the S3 location whenever it was set, whatever the directory said.
    keys: ['kinesis.table-description-dir', 'kinesis.table-description-location'],
    env: ['KINESQL_TABLES'],
    flag: 'tables',
    parser: tablesLocation,
    apply: (c, v) => (c.catalog.tablesLocation = v),
  }),
  setting({ keys: ['kinesis.table-descriptions-s3'], parser: s3Location, apply: (c, v) => (c.catalog.tablesLocation = v) }),
  setting({ keys: ['kinesis.table-description-refresh-interval'], parser: duration(1), apply: (c, v) => (c.catalog.refreshIntervalMs = v) }),
  setting({ keys: ['kinesis.hide-internal-columns'], parser: boolean, apply: (c, v) => (c.catalog.hideInternalColumns = v) }),
  setting({ keys: ['kinesis.access-key'], parser: text('an AWS access key id'), apply: (c, v) => (c.aws.accessKeyId = v) }),
  setting({ keys: ['kinesis.secret-key'], parser: text('an AWS secret access key'), apply: (c, v) => (c.aws.secretAccessKey = v) }),
  setting({
    keys: ['kinesis.aws-region'],
    env: ['AWS_DEFAULT_REGION', 'AWS_REGION'],
    flag: 'region',
    parser: text('an AWS region such as us-east-1'),
    apply: (c, v) => (c.aws.region = v),
  }),
  setting({
    keys: ['kinesis.batch-size'],
    parser: integer(1, Number.MAX_SAFE_INTEGER),
    // Trino accepted any positive int; GetRecords takes at most 10000, which is what larger values meant.
    apply: (c, v) => (c.read.batchSize = Math.min(v, MAX_GET_RECORDS_LIMIT)),
    warn: (v) => (v > MAX_GET_RECORDS_LIMIT ? `kinesis.batch-size=${v} is more than GetRecords allows; ${MAX_GET_RECORDS_LIMIT} is used` : undefined),
  }),
  setting({ keys: ['kinesis.max-batches'], parser: integer(0, Number.MAX_SAFE_INTEGER), apply: (c, v) => (c.read.maxBatches = v) }),
  setting({ keys: ['kinesis.fetch-attempts'], parser: integer(1, 1000), apply: (c, v) => (c.read.fetchAttempts = v) }),
  setting({ keys: ['kinesis.sleep-time'], parser: duration(0), apply: (c, v) => (c.read.sleepTimeMs = v) }),
  setting({ keys: ['kinesis.iter-from-timestamp', 'kinesis.iterator-from-timestamp'], parser: boolean, apply: (c, v) => (c.read.iterFromTimestamp = v) }),
  setting({
    keys: ['kinesis.iter-offset-seconds', 'kinesis.iterator-offset-seconds'],
    parser: integer(0, 365 * 86_400),
    apply: (c, v) => (c.read.iterOffsetSeconds = v),
  }),
  setting({ keys: ['kinesis.log-batches'], parser: boolean, apply: (c, v) => (c.read.logBatches = v) }),
  setting({ keys: ['kinesis.checkpoint-enabled'], parser: boolean, apply: (c, v) => (checkpoint(c).enabled = v) }),
  setting({ keys: ['kinesis.checkpoint-logical-name'], parser: text('a name'), apply: (c, v) => (checkpoint(c).logicalName = v) }),
  setting({
    keys: ['kinesis.iteration-number', 'kinesis.iterator-number'],
    parser: integer(0, Number.MAX_SAFE_INTEGER),
    apply: (c, v) => (checkpoint(c).iterationNumber = v),
  }),
  setting({ keys: ['kinesis.dynamo-read-capacity'], parser: integer(1, Number.MAX_SAFE_INTEGER), apply: (c, v) => (checkpoint(c).dynamoReadCapacity = v) }),
  setting({ keys: ['kinesis.dynamo-write-capacity'], parser: integer(1, Number.MAX_SAFE_INTEGER), apply: (c, v) => (checkpoint(c).dynamoWriteCapacity = v) }),
  setting({ keys: ['kinesis.checkpoint-interval-ms'], parser: duration(1), apply: (c, v) => (checkpoint(c).intervalMs = v) }),
  ...SCAN_SETTINGS,
  ...REGISTRY_SETTINGS,
];

/** Keys of Presto/Trino catalog files that mean nothing to kinesql and are dropped without a warning. */
const IGNORED_KEYS = new Set(['connector.name']);

const KNOWN_KEYS = new Set(SETTINGS.flatMap((s) => s.keys));

/**
 * Builds the configuration: built-in defaults, then environment (AWS_REGION / AWS_DEFAULT_REGION,
 * KINESQL_*), then the properties file, then CLI flags — each later layer overrides the earlier. Unknown
 * keys end up in `warnings`; an invalid value throws ConfigError naming the key and the expected form.
 */
export function loadConfig(options: LoadConfigOptions): KinesqlConfig {
  const env = options.env ?? {};
  const flags = options.flags ?? {};
  const config = structuredClone(DEFAULT_CONFIG);
  const warnings: string[] = [];

  for (const s of SETTINGS) {
    for (const name of s.env ?? []) {
      const raw = env[name];
      if (raw !== undefined && raw.trim() !== '') applyRaw(config, s, raw, name, 'environment', warnings);
    }
  }

  const file = flags.configFile ?? options.file;
  if (file !== undefined) {
    config.configFile = file;
    applyFile(config, file, warnings);
  }

  for (const s of SETTINGS) {
    if (s.flag === undefined) continue;
    const value = flags[s.flag];
    if (value !== undefined) applyRaw(config, s, String(value), `--${kebab(s.flag)}`, 'command line', warnings);
  }

  if ((config.aws.accessKeyId === undefined) !== (config.aws.secretAccessKey === undefined)) {
    const missing = config.aws.accessKeyId === undefined ? 'kinesis.access-key' : 'kinesis.secret-key';
    throw new ConfigError(
      missing,
      file ?? '',
      'missing; kinesis.access-key and kinesis.secret-key must be set together (or neither, to use the default AWS credential chain)',
    );
  }
  if (config.wire?.requireTls && (config.wire.tlsCertFile === undefined || config.wire.tlsKeyFile === undefined)) {
    throw new ConfigError('kinesql.require-tls', file ?? '', 'needs TLS; set kinesql.tls-cert and kinesql.tls-key, or kinesql.require-tls=false');
  }
  if (config.scan?.consumerMode === 'efo' && config.scan.consumerName === undefined) {
    throw new ConfigError('kinesis.consumer-mode', file ?? '', 'efo needs kinesis.consumer-name (the servers on one engine share one)');
  }
  if (config.engine.readUrl !== undefined && config.engine.url === undefined) {
    throw new ConfigError(
      'kinesql.engine-read-url',
      file ?? '',
      'needs an external engine: set kinesql.engine-url to the primary (the embedded engine has no standby)',
    );
  }
  if (warnings.length > 0) config.warnings = warnings;
  return config;
}

function applyFile(config: KinesqlConfig, file: string, warnings: string[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'config file',
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); expected a readable .properties file`,
    );
  }
  const byKey = new Map<string, PropertyEntry>();
  for (const entry of parseProperties(text)) {
    if (byKey.has(entry.key)) warnings.push(`${file} line ${entry.line}: ${entry.key} is set again; the last value is used`);
    byKey.set(entry.key, entry);
    if (!KNOWN_KEYS.has(entry.key) && !IGNORED_KEYS.has(entry.key)) {
      warnings.push(`${file} line ${entry.line}: unknown key ${entry.key} is ignored`);
    }
  }
  for (const s of SETTINGS) {
    const present = s.keys.flatMap((key) => {
      const entry = byKey.get(key);
      return entry === undefined ? [] : [entry];
    });
    for (const entry of present) applyRaw(config, s, entry.value, entry.key, `${file} line ${entry.line}`, warnings);
    const [first, ...others] = present;
    const last = present.at(-1);
    if (first !== undefined && last !== undefined && others.some((entry) => entry.value !== first.value)) {
      warnings.push(`${file}: ${present.map((e) => e.key).join(' and ')} disagree; ${last.key} is used`);
    }
  }
  const dir = byKey.get('kinesis.table-description-dir') ?? byKey.get('kinesis.table-description-location');
  const s3 = byKey.get('kinesis.table-descriptions-s3');
  if (dir !== undefined && s3 !== undefined) warnings.push(`${file}: ${dir.key} and ${s3.key} are both set; ${s3.key} is used`);
}

function applyRaw(config: KinesqlConfig, s: Setting<unknown>, raw: string, name: string, where: string, warnings: string[]): void {
  const value = s.parser.parse(raw);
  if (value === undefined) {
    throw new ConfigError(name, where, `${JSON.stringify(raw)} is not valid; expected ${s.parser.expected}`);
  }
  const warning = s.warn?.(value);
  if (warning !== undefined) warnings.push(`${where}: ${warning}`);
  s.apply(config, value);
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Every property key kinesql understands (for documentation checks and `--help`). */
export function knownConfigKeys(): string[] {
  return [...KNOWN_KEYS, ...IGNORED_KEYS];
}
