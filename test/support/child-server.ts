import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import pg from 'pg';

/** A kinesql server in a process of its own (`kinesql serve`), so it can be killed like a real one. */
export interface ChildServer {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface ChildServerOptions {
  port?: number;
  tablesDir: string;
  kinesisEndpoint: string;
  engineUrl: string;
  /** A table the server must serve before it counts as ready. */
  readyTable: string;
  /** Extra lines of a properties file (kinesql.* and kinesis.* keys). */
  properties?: string;
  propertiesFile?: string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `kinesql serve` on the engine at engineUrl and waits until it answers a query on readyTable. */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const port = options.port ?? (await freePort());
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', String(port), '--tables', options.tablesDir];
  args.push('--kinesis-endpoint', options.kinesisEndpoint, '--engine-url', options.engineUrl, '--log-level', 'warn');
  if (options.propertiesFile) args.push('--config', options.propertiesFile);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`kinesql on port ${port} exited with ${child.exitCode}`);
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
      client.on('error', () => undefined);
      const ready = await client
        .connect()
        .then(
          async () => (await client.query(`select count(*) from ${options.readyTable}`)).rowCount === 1,
          () => false,
        )
        .finally(() => client.end().catch(() => undefined));
      if (ready) return { port, process: child, stop };
      await sleep(200);
    }
  } catch (error) {
    // A server that never became ready is not left running after the test.
    child.kill('SIGKILL');
    throw error;
  }
}

/** The URL another kinesql server reaches an engine by (libpq's socket form when it listens on a socket). */
export function engineUrlOf(endpoint: { user: string; password: string; database: string; host: string; port: number }): string {
  return `postgresql://${encodeURIComponent(endpoint.user)}:${encodeURIComponent(endpoint.password)}@/${endpoint.database}?host=${encodeURIComponent(endpoint.host)}&port=${endpoint.port}`;
}
