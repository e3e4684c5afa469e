import type { Logger } from 'pino';
import { Catalog } from './catalog/catalog.js';
import type { TableDefinition } from './catalog/definition.js';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from './config/config.js';
import { openEngine } from './engine/open-engine.js';
import { createKinesisClient } from './kinesis/client.js';
import { processRateBudget } from './kinesis/rate-budget.js';
import { initParser } from './sql/parse.js';
import { StatementExecutor } from './sql/statement-executor.js';
import { StreamStore } from './store/stream-store.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './wire/protocol-constants.js';
import { WireServer } from './wire/server.js';

export interface RunningKinesql {
  host: string;
  port: number;
  store: StreamStore;
  catalog: Catalog;
  close(): Promise<void>;
}

/** Starts everything `kinesql serve` runs: engine, catalog, store and the wire server. */
export async function startKinesql(config: KinesqlConfig, logger: Logger): Promise<RunningKinesql> {
  const started = Date.now();
  await initParser();
  const { engine, shutdown: shutdownEngine } = await openEngine(config.dataDir, logger.child({ component: 'engine' }));
  try {
    const versionRows = await engine.query('SHOW server_version');
    const serverVersion = String(versionRows.rows[0]?.['server_version'] ?? '18.0');
    const scan = { ...DEFAULT_SCAN_CONFIG, ...config.scan };
    const client = createKinesisClient(config.aws, { requestTimeoutMs: scan.callTimeoutMs });
    const storeLogger = logger.child({ component: 'store' });
    const store = new StreamStore(
      engine,
      {
        client,
        engine,
        logger: storeLogger,
        retry: {
          attempts: config.read.fetchAttempts,
          baseDelayMs: config.read.sleepTimeMs,
          maxDelayMs: scan.maxBackoffMs,
          callTimeoutMs: scan.callTimeoutMs,
          deadlineMs: scan.unresponsiveTimeoutMs,
          logger: storeLogger,
        },
        budget: processRateBudget,
        batchSize: config.read.batchSize,
        maxBatches: config.read.maxBatches,
        logBatches: config.read.logBatches,
        maxMessageBytes: config.read.maxMessageBytes,
        shardListTtlMs: scan.shardListIntervalMs,
        evictionIntervalMs: scan.evictionIntervalMs,
        maxRows: scan.maxRowsPerTable,
        maxBytes: scan.maxBytesPerTable,
        progressIntervalMs: scan.progressIntervalMs,
        windowSeconds: config.read.iterFromTimestamp ? config.read.iterOffsetSeconds : undefined,
      },
      storeLogger,
    );

    const catalogLogger = logger.child({ component: 'catalog' });
    const catalog = new Catalog(config, catalogLogger);
    // Definition changes are applied one at a time, in the order they were seen.
    let applying: Promise<void> = Promise.resolve();
    const apply = (what: string, definition: TableDefinition, change: () => Promise<unknown>): void => {
      applying = applying.then(change).catch((error: unknown) =>
        catalogLogger.error(
          { err: error, table: `${definition.schemaName}.${definition.tableName}`, source: definition.source },
          `could not apply ${what} definition`,
        ),
      );
    };
    catalog.on('table-added', (definition: TableDefinition) => apply('new', definition, () => store.add(definition)));
    catalog.on('table-changed', (definition: TableDefinition) => apply('changed', definition, () => store.add(definition)));
    catalog.on('table-removed', (definition: TableDefinition) => apply('removed', definition, () => store.remove(definition)));
    await catalog.start();
    await applying;

    const executor = new StatementExecutor(engine, store, logger.child({ component: 'sql' }));
    const server = new WireServer(
      executor,
      { serverVersion, defaultSchema: config.catalog.defaultSchema, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES },
      logger.child({ component: 'wire' }),
    );
    const address = await server.listen(config.server.port, config.server.host);
    logger.info({ ...address, tables: store.list().length, ms: Date.now() - started }, 'kinesql is ready');
    return {
      ...address,
      store,
      catalog,
      async close() {
        await catalog.stop();
        await server.close();
        await applying;
        client.destroy();
        await shutdownEngine();
      },
    };
  } catch (error) {
    await shutdownEngine();
    throw error;
  }
}
