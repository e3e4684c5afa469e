import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { DescribeStreamSummaryCommand, type KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../../src/kinesis/client.js';

const require = createRequire(import.meta.url);

export interface KinesisMock {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * kinesis-mock (npm kinesis-local), the conformance stand-in, as a child process on a plain-HTTP port
 * of a random pair; when it exits at once (a port of the pair taken by another process of the suite, ECONNREFUSED in
 * CI), started again on another pair, up to five times.
 */
export async function startKinesisMock(): Promise<KinesisMock> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startKinesisMockOnce();
    } catch (error) {
      if (attempt === 5 || !(error instanceof MockExited)) throw error;
    }
  }
}

/** kinesis-mock exited before it answered. */
class MockExited extends Error {}

async function startKinesisMockOnce(): Promise<KinesisMock> {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const main = require.resolve('kinesis-local/main.js');
  const child: ChildProcess = spawn(process.execPath, [main], {
    // It reads its TLS certificate (server.json) from the working directory.
    cwd: dirname(main),
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(port),
      KINESIS_MOCK_TLS_PORT: String(port + 1),
      SHARD_LIMIT: '500',
      CREATE_STREAM_DURATION: '0ms',
      SPLIT_SHARD_DURATION: '0ms',
      MERGE_SHARDS_DURATION: '0ms',
      UPDATE_SHARD_COUNT_DURATION: '0ms',
      LOG_LEVEL: 'ERROR',
    },
    stdio: 'ignore',
  });
  // A hook that times out while the mock starts leaves no handle to close it with; the worker's exit still ends it.
  // SIGKILL: an orphaned kinesis-mock was seen to catch SIGTERM and keep running.
  const endWithWorker = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', endWithWorker);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.send(new ListStreamsCommand({}));
        break;
      } catch (error) {
        if (attempt > 150 || child.exitCode !== null) {
          const exited = child.exitCode !== null;
          endWithWorker();
          process.off('exit', endWithWorker);
          throw exited ? new MockExited(`kinesis-mock exited (${child.exitCode}) on port ${port}: ${String(error)}`) : error;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    close: async () => {
      process.off('exit', endWithWorker);
      child.kill();
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    },
  };
}

/** Waits until a resharded stream is ACTIVE again (kinesis-mock takes SPLIT_SHARD_DURATION and the like). */
export async function waitActive(kinesis: KinesisClient, stream: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${stream} did not become ACTIVE`);
}
