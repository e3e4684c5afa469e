import type { Logger } from 'pino';
import type { EngineConfig } from '../config/config.js';
import { startEmbeddedEngine } from './embedded-engine.js';
import { Engine, endpointFromUrl } from './engine.js';
import { ReadReplica } from './replica.js';

export interface OpenedEngine {
  engine: Engine;
  /** What kind of engine it is, for logs and the README's promises: embedded or external. */
  kind: 'embedded' | 'external';
  /** The hot standby client sessions run on (kinesql.engine-read-url), when there is one. */
  replica?: ReadReplica;
  /** Closes kinesql's connections; stops the embedded engine (removing its data directory when temporary). */
  shutdown(): Promise<void>;
}

/** Connections kinesql keeps for its own work (loading, DDL, status tables), beyond one backend per client. */
const OWN_CONNECTIONS = 8;
const DEFAULT_READ_MAX_WAIT_MS = 30_000;

/**
 * The engine as configured: the PostgreSQL at `config.url`, or an embedded PostgreSQL that kinesql starts
 * over dataDir (a fresh temporary directory when none is given) and stops on shutdown.
 */
export async function openEngine(config: EngineConfig, dataDir: string | undefined, logger: Logger): Promise<OpenedEngine> {
  if (config.readUrl !== undefined && config.url === undefined) {
    throw new Error('kinesql.engine-read-url needs an external engine: set kinesql.engine-url to the primary (the embedded engine has no standby)');
  }
  if (config.url !== undefined) {
    const endpoint = endpointFromUrl(config.url);
    const readEndpoint = config.readUrl !== undefined ? endpointFromUrl(config.readUrl, 'kinesql.engine-read-url') : undefined;
    const engine = await Engine.connect(endpoint, logger, { poolSize: OWN_CONNECTIONS });
    logger.info({ host: endpoint.host, port: endpoint.port, database: endpoint.database, version: engine.serverVersion }, 'external engine connected');
    if (!readEndpoint) return { engine, kind: 'external', shutdown: () => engine.close() };
    let replica: ReadReplica;
    try {
      replica = await ReadReplica.connect(
        readEndpoint,
        engine,
        { maxWaitMs: config.readMaxWaitMs ?? DEFAULT_READ_MAX_WAIT_MS },
        logger.child({ part: 'replica' }),
      );
    } catch (error) {
      await engine.close();
      throw error;
    }
    logger.info({ host: readEndpoint.host, port: readEndpoint.port }, 'read replica connected: client sessions run there');
    return {
      engine,
      kind: 'external',
      replica,
      async shutdown() {
        try {
          await replica.close();
        } finally {
          await engine.close();
        }
      },
    };
  }
  const embedded = await startEmbeddedEngine({
    ...(dataDir !== undefined ? { dataDir } : {}),
    // Client backends, kinesql's own connections, and a few for cancel requests and operators.
    maxConnections: config.maxConnections + OWN_CONNECTIONS + 10,
    logger,
  });
  let engine: Engine;
  try {
    engine = await Engine.connect(embedded.endpoint, logger, { poolSize: OWN_CONNECTIONS });
  } catch (error) {
    await embedded.stop();
    throw error;
  }
  embedded.onRestart(() => engine.reportRestart('the embedded engine was started again'));
  return {
    engine,
    kind: 'embedded',
    async shutdown() {
      try {
        await engine.close();
      } finally {
        await embedded.stop();
      }
    },
  };
}
