import type { Logger } from 'pino';
import { createCatalog, type Catalog } from './catalog/catalog.js';
import { createDefinitionsTable, writeDefinitionsTable } from './catalog/definitions-table.js';
import { DEFAULT_ENGINE_CONFIG, DEFAULT_SCAN_CONFIG, type KinesqlConfig } from './config/config.js';
import type { Engine } from './engine/engine.js';
import { openEngine } from './engine/open-engine.js';
import type { ReadReplica } from './engine/replica.js';
import { createKinesisClient } from './kinesis/client.js';
import { planReads } from './kinesis/read-plan.js';
import { initParser } from './sql/parse.js';
import { StatementExecutor } from './wire/statement-executor.js';
import { createStatusTables } from './store/status-tables.js';
import { PARTITION_SCHEMA } from './store/time-partitions.js';
import { CHECKPOINTS_TABLE, ClientRoles, hideStateTables, installEngineRoles, STATE_SCHEMA } from './engine/roles.js';
import { installCatalogViews, installRoleViews, installSettingViews } from './engine/catalog-functions.js';
import { installRoleProbeFunctions } from './engine/role-probes.js';
import { resolveClosedPartitionStorage } from './store/columnar-partitions.js';
import { DISTRIBUTION_COLUMN, installDistributedCheckpoints, installPublishedSettings, resolveDistribution, sweepPublishedSettings } from './engine/citus.js';
import { isAllowedSetting } from './sql/session-settings.js';
import { StatementAnalyzer } from './sql/off-thread.js';
import { maxWindowSeconds, settingCeilings } from './config/setting-ceilings.js';
import { createPositionTables } from './store/shard-positions.js';
import { DefinitionChanges } from './store/definition-changes.js';
import { divideReading } from './store/divided-reading.js';
import { Follower } from './store/follower.js';
import { StreamStore } from './store/stream-store.js';
import { LoadBudget } from './store/load-budget.js';
import { createSchemaRegistries } from './registry/from-config.js';
import { unauthenticatedExposure } from './wire/exposure.js';
import { WireServer } from './wire/server.js';
import { StatementLog } from './wire/statement-log.js';

/** Statements that take a second or longer are logged unless kinesql.log-min-duration-statement says otherwise. */
const DEFAULT_LOG_MIN_DURATION_STATEMENT_MS = 1_000;
import { readFileSync } from 'node:fs';

/** The version in package.json (one folder up from src/ and from dist/ alike). */
const KINESQL_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
import { HttpServer } from './http/http-server.js';
import { KinesqlMetrics } from './http/metrics.js';
import { readiness } from './http/readiness.js';
import { StatusReport } from './http/status-model.js';
import { configuredUsers, connectionLimits, wireSessionOptions } from './wire/wire-options.js';

export interface RunningKinesql {
  host: string;
  port: number;
  store: StreamStore;
  catalog: Catalog;
  engine: Engine;
  /** The hot standby client sessions run on (kinesql.engine-read-url), when there is one. */
  replica?: ReadReplica;
  /** Client logins as engine roles (tests log in to the engine directly as a client would be). */
  roles: ClientRoles;
  /** Where /metrics, /healthz and /readyz are served, when kinesql.http-port is set. */
  httpPort?: number;
  close(): Promise<void>;
}

/** Starts everything `kinesql serve` runs: engine, catalog, store and the wire server. */
export async function startKinesql(config: KinesqlConfig, logger: Logger): Promise<RunningKinesql> {
  const started = Date.now();
  const exposure = unauthenticatedExposure(config);
  if (exposure && !config.wire?.allowUnauthenticatedRemote) throw new Error(exposure);
  // Users that cannot log in stop the start before anything runs.
  configuredUsers(config.wire);
  if (exposure)
    logger.warn(
      { host: config.server.host, port: config.server.port },
      `SERVING WITHOUT AUTHENTICATION ON A NETWORK ADDRESS (--allow-unauthenticated-remote): anyone who reaches it can read every stream`,
    );
  await initParser();
  const engineConfig = config.engine ?? DEFAULT_ENGINE_CONFIG;
  const { engine, replica, shutdown: shutdownEngine } = await openEngine(engineConfig, config.dataDir, logger.child({ component: 'engine' }));
  try {
    const scan = { ...DEFAULT_SCAN_CONFIG, ...config.scan };
    const client = createKinesisClient(config.aws, { requestTimeoutMs: scan.callTimeoutMs });
    const schemaRegistries = createSchemaRegistries(config, logger.child({ component: 'registry' }));
    const storeLogger = logger.child({ component: 'store' });
    const retry = {
      attempts: config.read.fetchAttempts,
      baseDelayMs: config.read.sleepTimeMs,
      maxDelayMs: scan.maxBackoffMs,
      callTimeoutMs: scan.callTimeoutMs,
      deadlineMs: scan.unresponsiveTimeoutMs,
      logger: storeLogger,
    };
    const maxWindow = maxWindowSeconds(config);
    const distributed = (await resolveDistribution(engine, engineConfig.distribution ?? 'auto')) === 'citus';
    if (distributed)
      logger.info({ distributionColumn: DISTRIBUTION_COLUMN }, 'the engine is a Citus coordinator: stream tables are distributed over its workers');
    const closedPartitionStorage = await resolveClosedPartitionStorage(engine, scan.closedPartitionStorage, storeLogger);
    const divided = divideReading(engine, scan, () => store.list(), storeLogger);
    const reads = planReads(config.aws, scan, client, retry, storeLogger.child({ part: 'fan-out' }), divided?.budget);
    const store: StreamStore = new StreamStore(
      engine,
      {
        client,
        engine,
        logger: storeLogger,
        retry,
        budget: reads.budget,
        ...(reads.subscriptions ? { subscriptions: reads.subscriptions } : {}),
        followed: reads.followed,
        ...(divided ? { tipReads: divided.tipReads, ownerReads: divided.ownerReads, leases: divided.leases } : {}),
        batchSize: config.read.batchSize,
        maxBatches: config.read.maxBatches,
        logBatches: config.read.logBatches,
        maxMessageBytes: config.read.maxMessageBytes,
        shardListTtlMs: scan.shardListIntervalMs,
        evictionIntervalMs: scan.evictionIntervalMs,
        closedPartitionStorage,
        partitionByTime: scan.partitionByTime,
        distributed,
        ...(scan.partitionIntervalMs !== undefined ? { partitionSeconds: Math.round(scan.partitionIntervalMs / 1000) } : {}),
        maxRows: scan.maxRowsPerTable,
        maxBytes: scan.maxBytesPerTable,
        loadBudget: new LoadBudget(scan.loadBufferBytes),
        schemaRegistries: schemaRegistries.registries,
        progressIntervalMs: scan.progressIntervalMs,
        maxStalenessMs: scan.maxStalenessMs,
        iterFromTimestamp: config.read.iterFromTimestamp,
        iterOffsetSeconds: config.read.iterOffsetSeconds,
        ...(maxWindow !== undefined ? { maxWindowSeconds: maxWindow } : {}),
      },
      storeLogger,
    );

    const catalogLogger = logger.child({ component: 'catalog' });
    const catalog = createCatalog(config, catalogLogger);
    const changes = new DefinitionChanges(store, () => writeDefinitionsTable(engine, catalog.status(), config.catalog.tablesLocation), catalogLogger);
    catalog.on('changes', (batch) => changes.enqueue(batch));
    const windowDefaults = store.windowDefaults();
    if (distributed) {
      await installPublishedSettings(engine);
      await sweepPublishedSettings(engine, logger.child({ component: 'engine' }));
    }
    await installEngineRoles(engine, windowDefaults, config.checkpoint, isAllowedSetting, logger.child({ component: 'engine' }), distributed);
    if (distributed) await installDistributedCheckpoints(engine, CHECKPOINTS_TABLE);
    await installSettingViews(engine, config);
    // Citus's columnar storage keeps its metadata in a schema no client may read.
    await installCatalogViews(engine, [STATE_SCHEMA, PARTITION_SCHEMA, ...(distributed ? ['columnar_internal'] : [])], distributed);
    await installRoleViews(engine);
    await installRoleProbeFunctions(engine);
    await createPositionTables(engine);
    await divided?.createTables();
    await hideStateTables(engine);
    await createDefinitionsTable(engine);
    await createStatusTables(engine);
    await catalog.start();
    await changes.whenIdle();
    await store.hideUnserved();
    await writeDefinitionsTable(engine, catalog.status(), config.catalog.tablesLocation);

    const ceilings = settingCeilings(config);
    const executor = new StatementExecutor(
      engine,
      store,
      logger.child({ component: 'sql' }),
      config.checkpoint,
      config.catalog.hideInternalColumns,
      new StatementAnalyzer({ ceilings }, { budgetMs: engineConfig.parseTimeoutMs, logger: logger.child({ component: 'sql' }) }),
    );
    const roles = new ClientRoles(
      engine,
      { ceilings, searchPath: [...new Set([config.catalog.defaultSchema, 'public'])] },
      replica ? () => replica.catchUpWithPrimary() : undefined,
      logger.child({ component: 'engine' }),
    );
    const metrics = new KinesqlMetrics({
      store,
      engine,
      sessions: () => server.sessionCount,
      ...(replica ? { replayWaiters: () => replica.waiting } : {}),
      ...(divided ? { leases: divided.leases } : {}),
    });
    executor.metrics = metrics;
    const server: WireServer = new WireServer(
      {
        executor,
        engine,
        ...(replica ? { replica } : {}),
        roles,
        metrics: new StatementLog(
          config.wire?.logMinDurationStatementMs ?? DEFAULT_LOG_MIN_DURATION_STATEMENT_MS,
          logger.child({ component: 'statements' }),
          metrics,
        ),
      },
      {
        defaultSchema: config.catalog.defaultSchema,
        kinesqlVersion: KINESQL_VERSION,
        ...wireSessionOptions(config.wire, await roles.derivedKey('stand-in login secrets')),
      },
      connectionLimits(engineConfig.maxConnections, config.wire),
      logger.child({ component: 'wire' }),
    );
    const address = await server.listen(config.server.port, config.server.host);
    const follower = reads.followed
      ? new Follower(
          store,
          {
            share: scan.readBudgetShare,
            budget: reads.budget,
            ...(reads.subscriptions ? { subscriptions: reads.subscriptions } : {}),
            ...(divided ? { leases: divided.leases } : {}),
          },
          storeLogger.child({ part: 'follower' }),
        )
      : undefined;
    await divided?.leases.start(address.port);
    follower?.start();
    let http: HttpServer | undefined;
    let httpAddress: { port: number; host: string } | undefined;
    if (config.server.httpPort !== undefined) {
      const ready = () => readiness(engine, store, catalog, config.server.readyRequiresEveryTable === true, replica);
      const status = new StatusReport({ store, metrics, readiness: ready, sessions: () => server.sessionCount, version: KINESQL_VERSION });
      http = new HttpServer(metrics, ready, status, logger.child({ component: 'http' }));
      httpAddress = await http.listen(config.server.httpPort, config.server.host);
    }
    logger.info({ ...address, http: httpAddress?.port, tables: store.list().length, ms: Date.now() - started }, 'kinesql is ready');
    return {
      ...address,
      ...(httpAddress ? { httpPort: httpAddress.port } : {}),
      store,
      catalog,
      engine,
      ...(replica ? { replica } : {}),
      roles,
      async close() {
        try {
          store.stopLoading();
          const conversionsStopped = store.stopConversions();
          await http?.close();
          const followerStopped = follower?.stop();
          await reads.close();
          await followerStopped;
          await divided?.leases.stop();
          await executor.close();
          await catalog.stop();
          await server.close();
          await changes.whenIdle();
          await conversionsStopped;
        } finally {
          client.destroy();
          schemaRegistries.close();
          await shutdownEngine();
        }
      },
    };
  } catch (error) {
    await shutdownEngine();
    throw error;
  }
}
