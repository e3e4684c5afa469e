/**
 * An unknown user's SCRAM challenge does not give it away: its salt is as stable as a real user's, across
 * restarts of kinesql on the same engine too (its key comes from the engine's secret, not from the process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';
import { RawClient } from '../support/raw-client.js';

/** The salt and iteration count of the server-first message a user gets. */
async function challenge(port: number, user: string): Promise<string> {
  const client = await RawClient.open(port);
  try {
    client.write(serialize.startup({ user, database: 'kinesql' }));
    expect((await client.next())?.type).toBe('R');
    client.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=clientnonce'));
    const serverFirst = await client.next();
    expect(serverFirst?.type).toBe('R');
    const fields = new Map(
      serverFirst!.body
        .toString('utf8', 4)
        .split(',')
        .map((part) => [part[0]!, part.slice(2)]),
    );
    return `s=${fields.get('s')},i=${fields.get('i')}`;
  } finally {
    client.close();
  }
}

describe("unknown users' challenges across a restart", () => {
  let harness: Harness;
  let dataDir: string;
  let restarted: RunningKinesql | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kinesql-salts-'));
    harness = await startHarness({
      streams: [],
      definitions: {},
      configure: (config) => ({ ...config, dataDir, wire: { authMethod: 'scram-sha-256', users: `alice:${makeScramVerifier('wonderland')}` } }),
    });
  });

  afterAll(async () => {
    await restarted?.close();
    await harness?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('gives an unknown user the same salt before and after kinesql restarts on the same engine, as a real user', async () => {
    const before = { alice: await challenge(harness.server.port, 'alice'), mallory: await challenge(harness.server.port, 'mallory') };
    expect(before.mallory).not.toBe(before.alice);
    expect(before.mallory).toMatch(/^s=[A-Za-z0-9+/]{22}==,i=4096$/);
    await harness.server.close();
    restarted = await startKinesql(harness.config, testLogger);
    expect({ alice: await challenge(restarted.port, 'alice'), mallory: await challenge(restarted.port, 'mallory') }).toEqual(before);
  });
});
