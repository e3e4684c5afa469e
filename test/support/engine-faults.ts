/** What the engine fault tests share: kinesql's own engine login, and waiting until kinesql answers again. */
import pg from 'pg';
import type { Harness } from './harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection to the harness's engine as kinesql's administrator (to find and signal engine processes). */
export async function engineAdmin(harness: Harness): Promise<pg.Client> {
  const endpoint = harness.server.engine.endpoint;
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database: endpoint.database });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs sql through kinesql on a new connection until it answers (the engine is back); its rows and the wait. */
export async function whenServedAgain(harness: Harness, sql: string): Promise<{ rows: Record<string, unknown>[]; ms: number }> {
  const started = performance.now();
  for (;;) {
    const client = new pg.Client(harness.connection);
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query(sql);
      return { rows, ms: performance.now() - started };
    } catch {
      await sleep(100);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
