import { existsSync } from 'node:fs';
import pg from 'pg';
import { startExternalPostgres, type ExternalPostgres } from './external-postgres.js';

const CITUS_LIBRARY = '/usr/lib/postgresql/15/lib/citus.so';

/** Why Citus cannot be used here, or undefined when it can (scripts/ensure-citus.sh builds it from the vendored source). */
export function citusMissing(): string | undefined {
  return existsSync(CITUS_LIBRARY) ? undefined : `Citus is not installed in Debian's PostgreSQL 15 (${CITUS_LIBRARY}): run scripts/ensure-citus.sh`;
}

export interface CitusCluster {
  coordinator: ExternalPostgres;
  workers: ExternalPostgres[];
  /** kinesql's engine URL: the coordinator, as its non-superuser owner of the database. */
  url: string;
  stop(): Promise<void>;
}

/** Runs SQL as the superuser of one node. */
export async function asSuperuser<T>(node: ExternalPostgres, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: node.adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A Citus coordinator and two workers, each Debian's PostgreSQL 15 on a free loopback port, with the citus
 * extension in their `kinesql` database. The workers trust loopback logins: the coordinator reaches them as the
 * role running each statement (client roles included), and a cluster of machines of their own would use
 * certificates or pg_dist_authinfo for that instead.
 */
export async function startCitusCluster(workerCount = 2): Promise<CitusCluster> {
  // Nodes reach each other over loopback without TLS (Citus asks for it by default, with the client certificate of
  // the user the server runs as).
  const settings = ['shared_preload_libraries=citus', 'max_prepared_transactions=100', 'citus.node_conninfo=sslmode=disable'];
  const started: ExternalPostgres[] = [];
  try {
    const nodes = await Promise.all(
      Array.from({ length: workerCount + 1 }, (_, index) =>
        startExternalPostgres({ settings, trustLoopback: index > 0 }).then((node) => {
          started.push(node);
          return node;
        }),
      ),
    );
    const [coordinator, ...workers] = nodes as [ExternalPostgres, ...ExternalPostgres[]];
    for (const node of nodes) {
      await asSuperuser(node, async (client) => {
        await client.query('CREATE EXTENSION citus');
        // Name lookups in columnar storage's schema (its tables stay unreadable): BI tools ask privileges of every table pg_tables lists.
        await client.query('GRANT USAGE ON SCHEMA columnar_internal TO PUBLIC');
      });
    }
    await asSuperuser(coordinator, async (client) => {
      await client.query('SELECT citus_set_coordinator_host($1, $2)', ['127.0.0.1', coordinator.port]);
      for (const worker of workers) await client.query('SELECT citus_add_node($1, $2)', ['127.0.0.1', worker.port]);
    });
    return {
      coordinator,
      workers,
      url: coordinator.url,
      async stop() {
        await Promise.all(nodes.map((node) => node.stop()));
      },
    };
  } catch (error) {
    await Promise.all(started.map((node) => node.stop()));
    throw error;
  }
}
