import type { Logger } from 'pino';
import type { EngineConfig } from '../config/config.js';
import { startEmbeddedEngine } from './embedded-engine.js';
import { Engine, endpointFromUrl } from './engine.js';

export interface OpenedEngine {
  engine: Engine;
  /** What kind of engine it is, for logs and the README's promises: embedded or external. */
  kind: 'embedded' | 'external';
  /** Closes kinesql's connections; stops the embedded engine (removing its data directory when temporary). */
  shutdown(): Promise<void>;
}

/** Connections kinesql keeps for its own work (loading, DDL, status tables), beyond one backend per client. */
const OWN_CONNECTIONS = 8;

/**
 * The engine as configured: the PostgreSQL at `config.url`, or an embedded PostgreSQL that kinesql starts
 * over dataDir (a fresh temporary directory when none is given) and stops on shutdown.
 */
export async function openEngine(config: EngineConfig, dataDir: string | undefined, logger: Logger): Promise<OpenedEngine> {
  if (config.url !== undefined) {
    const endpoint = endpointFromUrl(config.url);
    const engine = await Engine.connect(endpoint, logger, OWN_CONNECTIONS);
    logger.info({ host: endpoint.host, port: endpoint.port, database: endpoint.database, version: engine.serverVersion }, 'external engine connected');
    return { engine, kind: 'external', shutdown: () => engine.close() };
  }
  const embedded = await startEmbeddedEngine({
    ...(dataDir !== undefined ? { dataDir } : {}),
    // Client backends, kinesql's own connections, and a few for cancel requests and operators.
    maxConnections: config.maxConnections + OWN_CONNECTIONS + 10,
    logger,
  });
  let engine: Engine;
  try {
    engine = await Engine.connect(embedded.endpoint, logger, OWN_CONNECTIONS);
  } catch (error) {
    await embedded.stop();
    throw error;
  }
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
