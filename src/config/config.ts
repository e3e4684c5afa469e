/** Everything kinesql is configured with, after the properties file, environment and CLI flags are merged. */
export interface KinesqlConfig {
  server: {
    host: string;
    port: number;
    /** Port of the operator's HTTP endpoints (/metrics, /healthz, /readyz) on the same host; none when undefined. */
    httpPort?: number;
    /** /readyz answers 503 while any table's stream cannot be read (by default only the engine and definitions count). */
    readyRequiresEveryTable?: boolean;
  };
  /** Engine data directory; a fresh temporary one when undefined. */
  dataDir?: string;
  /** The SQL engine: embedded (default) or an external PostgreSQL, and the limits of client backends. */
  engine: EngineConfig;
  logLevel: string;
  catalog: {
    /** A directory path or an s3://bucket/prefix URI. */
    tablesLocation: string;
    /** Schema for definitions without schemaName or with the Trino connector's `default`. */
    defaultSchema: string;
    /** How often S3 is polled (and the directory re-scanned as a safety net), in ms. */
    refreshIntervalMs: number;
    hideInternalColumns: boolean;
  };
  aws: {
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    kinesisEndpoint?: string;
    s3Endpoint?: string;
    /** Shared-config profile to take credentials (and nothing else) from. kinesql.aws-profile. */
    profile?: string;
    /** Role to assume for Kinesis reads (STS AssumeRole over the base credentials). kinesql.aws-role-arn. */
    roleArn?: string;
    externalId?: string;
    roleSessionName?: string;
  };
  read: {
    /** Records per GetRecords call (Kinesis allows 1..10000). Trino connector: kinesis.batch-size. */
    batchSize: number;
    /** GetRecords calls per shard per statement catch-up, 0 = until the tip. Trino connector: kinesis.max-batches. */
    maxBatches: number;
    /** Attempts per GetRecords call before the statement fails. Trino connector: kinesis.fetch-attempts. */
    fetchAttempts: number;
    /** Base delay between retries in ms. Trino connector: kinesis.sleep-time. */
    sleepTimeMs: number;
    /** Start each table's window at now − iterOffsetSeconds (AT_TIMESTAMP); false = TRIM_HORIZON. Trino connector: kinesis.iter-from-timestamp. */
    iterFromTimestamp: boolean;
    /** Size of the window. Trino connector: kinesis.iter-offset-seconds (default 86400). */
    iterOffsetSeconds: number;
    /** Log every GetRecords batch. Trino connector: kinesis.log-batches. */
    logBatches: boolean;
    /** Largest decompressed message accepted, in bytes; larger ones become invalid rows. */
    maxMessageBytes: number;
  };
  /**
   * The Trino connector's checkpoint keys (kinesis.checkpoint-*, kinesis.iteration-number). Kept so the Trino connector's
   * configurations load unchanged; kinesql does not checkpoint through DynamoDB.
   */
  checkpoint?: {
    enabled: boolean;
    logicalName: string;
    iterationNumber: number;
    /** Accepted for compatibility, no effect. */
    dynamoReadCapacity?: number;
    /** Accepted for compatibility, no effect. */
    dynamoWriteCapacity?: number;
    /** kinesis.checkpoint-interval-ms; accepted for compatibility, no effect. */
    intervalMs?: number;
  };
  /** Client connections: authentication, TLS, protocol limits (kinesql.auth-method, kinesql.users, kinesql.tls-*, …). */
  wire?: WireConfig;
  /** Shard reading limits, timeouts and table caps (kinesql's own keys; see docs/configuration.md, "Stream scans"). */
  scan?: ScanConfig;
  /** Schema registries writer schemas are looked up in (kinesis.schema-registry-*, kinesis.glue-schema-registry*). */
  schemaRegistry?: SchemaRegistryConfig;
  /** The properties file the configuration was read from, if any. */
  configFile?: string;
  /** Problems that did not stop the start (unknown keys, ignored keys); the caller logs them. */
  warnings?: string[];
}

/** kinesql.engine-url, kinesql.engine-read-url, kinesql.max-connections and the per-session limits of client backends. */
export interface EngineConfig {
  /** postgresql://user:password@host:port/database of an external engine; undefined = the embedded one. */
  url?: string;
  /** A hot standby of the external engine where client sessions run (kinesql.engine-read-url). */
  readUrl?: string;
  /** The longest a statement waits for the standby to replay what it needs, in ms (kinesql.engine-read-max-wait; 30 s when unset). */
  readMaxWaitMs?: number;
  /** Most client sessions at once; one more gets 53300 (kinesql.max-connections). */
  maxConnections: number;
  /** Default statement_timeout of client sessions in ms, 0 = none (kinesql.statement-timeout). */
  statementTimeoutMs: number;
  /** work_mem of client sessions, as PostgreSQL writes it (kinesql.work-mem). */
  workMem: string;
  /** temp_file_limit of client sessions (kinesql.temp-file-limit). */
  tempFileLimit: string;
  /** lock_timeout of client sessions in ms, 0 = none (kinesql.lock-timeout). */
  lockTimeoutMs: number;
  /** maintenance_work_mem of client sessions (kinesql.maintenance-work-mem). */
  maintenanceWorkMem: string;
  /** hash_mem_multiplier of client sessions (kinesql.hash-mem-multiplier). */
  hashMemMultiplier: number;
  /** max_parallel_workers_per_gather of client sessions (kinesql.max-parallel-workers-per-gather). */
  maxParallelWorkersPerGather: number;
  /**
   * How far back (seconds) a session may start its window with the kinesis.iter_* session properties
   * (kinesql.max-window); undefined = each table's configured window.
   */
  maxWindowSeconds?: number;
  /** The longest kinesql's analysis of one client statement may take, in ms (kinesql.parse-timeout). */
  parseTimeoutMs: number;
  /**
   * How stream tables are laid out over the engine (kinesql.engine-distribution): citus distributes them over
   * a Citus cluster's workers, none keeps them on one server, auto is citus when the engine has the extension.
   */
  distribution: EngineDistribution;
}

export type EngineDistribution = 'auto' | 'none' | 'citus';

export type ClosedPartitionStorage = 'heap' | 'columnar';

/** Seconds of history a table shows under these settings; undefined = everything from TRIM_HORIZON. */
export function windowSecondsOf(read: { iterFromTimestamp: boolean; iterOffsetSeconds: number }): number | undefined {
  return read.iterFromTimestamp ? read.iterOffsetSeconds : undefined;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  maxConnections: 100,
  statementTimeoutMs: 0,
  workMem: '32MB',
  tempFileLimit: '5GB',
  lockTimeoutMs: 0,
  maintenanceWorkMem: '64MB',
  hashMemMultiplier: 2,
  maxParallelWorkersPerGather: 2,
  parseTimeoutMs: 10_000,
  distribution: 'auto',
};

export const DEFAULT_CONFIG: KinesqlConfig = {
  server: { host: '127.0.0.1', port: 5433 },
  engine: DEFAULT_ENGINE_CONFIG,
  logLevel: 'info',
  catalog: {
    tablesLocation: 'config/tables',
    defaultSchema: 'public',
    refreshIntervalMs: 10_000,
    hideInternalColumns: false,
  },
  aws: { region: 'us-east-1' },
  read: {
    batchSize: 10_000,
    maxBatches: 0,
    fetchAttempts: 5,
    sleepTimeMs: 200,
    iterFromTimestamp: true,
    iterOffsetSeconds: 86_400,
    logBatches: false,
    maxMessageBytes: 8 * 1024 * 1024,
  },
};

/** How clients connect. Every member is optional; absent means trust, no TLS, built-in limits. */
export interface WireConfig {
  /** trust | password | md5 | scram-sha-256 (kinesql.auth-method). */
  authMethod?: 'trust' | 'password' | 'md5' | 'scram-sha-256';
  /** `user:secret` pairs, comma-separated; secrets are SCRAM-SHA-256 verifiers or md5 hashes (kinesql.users). */
  users?: string;
  /** PEM certificate (chain) and key files offered in answer to SSLRequest (kinesql.tls-cert, kinesql.tls-key). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Refuse connections that did not start TLS (kinesql.require-tls); needs tlsCertFile and tlsKeyFile. */
  requireTls?: boolean;
  /** Largest protocol message accepted from a client, in bytes (kinesql.max-protocol-message-bytes). */
  maxProtocolMessageBytes?: number;
  /** A session idle inside a transaction block longer than this is closed, in ms (kinesql.idle-in-transaction-timeout). */
  idleInTransactionTimeoutMs?: number;
  /** Statements that take at least this long are logged, in ms; 0 every one, -1 none (kinesql.log-min-duration-statement; 1 s when unset). */
  logMinDurationStatementMs?: number;
  /** Serve a non-loopback address with trust authentication anyway (kinesql.allow-unauthenticated-remote). */
  allowUnauthenticatedRemote?: boolean;
  /** A connection not logged in after this long is closed, in ms (kinesql.authentication-timeout; 60 s when unset). */
  authenticationTimeoutMs?: number;
  /** Most connections from one address (an IPv6 /64) that have not logged in yet (kinesql.max-pending-logins-per-address). */
  maxPendingLoginsPerAddress?: number;
  /** Most sessions of one user at once; 0 or unset = no cap (kinesql.max-sessions-per-user). */
  maxSessionsPerUser?: number;
}
/** kinesql's own stream-scan settings (issue 7). Every member has a default, see DEFAULT_SCAN_CONFIG. */
export interface ScanConfig {
  /** One Kinesis call's attempt is abandoned after this long (ms) and counts as a retryable failure. */
  callTimeoutMs: number;
  /** A call that has not succeeded after this long (ms), retries included, fails the statement. */
  unresponsiveTimeoutMs: number;
  /** Longest wait between retries (ms); the wait is random up to min(this, sleep-time × 2^attempt). */
  maxBackoffMs: number;
  /** Shards are listed again (finding reshards) when the last listing is older than this (ms). */
  shardListIntervalMs: number;
  /** Rows older than the table's window are dropped at most this often (ms). */
  evictionIntervalMs: number;
  /** How time partitions that can receive no more records are stored (kinesql.closed-partition-storage). */
  closedPartitionStorage: ClosedPartitionStorage;
  /**
   * Stream tables are partitioned by _message_timestamp (window queries read only their partitions, eviction
   * drops whole partitions). Off: plain tables, for clients that list only relkind 'r' as tables (pgjdbc's
   * getTables with types {"TABLE"}).
   */
  partitionByTime: boolean;
  /** Width of new time partitions (ms); undefined = 1/24 of the table's window, at least a minute. */
  partitionIntervalMs?: number;
  /** Most rows one table may hold; 0 = no cap. A statement that would exceed it fails with a clear error. */
  maxRowsPerTable: number;
  /** Most message bytes one table may hold; 0 = no cap. */
  maxBytesPerTable: number;
  /** What batches read but not yet committed may hold in memory, over all shards and tables (bytes; see load-budget.ts). */
  loadBufferBytes: number;
  /** A long catch-up sends a NOTICE with its progress this often (ms); 0 = never. */
  progressIntervalMs: number;
  /** Default of the session setting kinesql.max_staleness (ms): 0 = every statement reads to the tips. */
  maxStalenessMs: number;
  /** Share of each shard's GetRecords budget the background follower may use; 0 = no follower. */
  readBudgetShare: number;
  /** kinesql.lease-duration: a shard lease not renewed for this long (ms) is taken over by another server on the engine. */
  leaseDurationMs: number;
  /** kinesis.consumer-mode: read shards with GetRecords (polling) or by enhanced fan-out subscriptions (efo). */
  consumerMode: 'polling' | 'efo';
  /** kinesis.consumer-name: the stream consumer registered for enhanced fan-out (needed with efo). */
  consumerName?: string;
  /** kinesis.consumer-deregister-on-exit: deregister the consumers at shutdown (they are kept otherwise). */
  consumerDeregisterOnExit: boolean;
}

export const DEFAULT_SCAN_CONFIG: ScanConfig = {
  callTimeoutMs: 10_000,
  unresponsiveTimeoutMs: 60_000,
  maxBackoffMs: 5_000,
  shardListIntervalMs: 10_000,
  evictionIntervalMs: 60_000,
  closedPartitionStorage: 'heap',
  partitionByTime: true,
  maxRowsPerTable: 0,
  maxBytesPerTable: 0,
  loadBufferBytes: 64 * 1024 * 1024,
  progressIntervalMs: 3_000,
  maxStalenessMs: 0,
  readBudgetShare: 0.2,
  leaseDurationMs: 10_000,
  consumerMode: 'polling',
  consumerDeregisterOnExit: false,
};

/** Where avro and protobuf writer schemas are looked up, and how long a lookup may take. */
export interface SchemaRegistryConfig {
  /** Base URL of a Confluent Schema Registry (kinesis.schema-registry-url); Confluent-framed records are looked up there. */
  url?: string;
  /** `user:password` for its HTTP basic authentication (kinesis.schema-registry-user-info). */
  userInfo?: string;
  /** Look up the schemas of Glue-framed records with GetSchemaVersion (kinesis.glue-schema-registry). */
  glue: boolean;
  /** Region and endpoint of the Glue client; the Kinesis region and AWS when unset. */
  glueRegion?: string;
  glueEndpoint?: string;
  /** A lookup that has not answered after this long fails (ms). */
  timeoutMs: number;
  /** A failed lookup is tried again after this long (ms); until then its records are invalid at once. */
  retryIntervalMs: number;
}

export const DEFAULT_SCHEMA_REGISTRY_CONFIG: SchemaRegistryConfig = {
  glue: false,
  timeoutMs: 2_000,
  retryIntervalMs: 10_000,
};
