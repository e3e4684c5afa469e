import { setTimeout as sleep } from 'node:timers/promises';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, errorFields, RawClient } from '../support/raw-client.js';

const ROWS = 300_000;
const ROW_BYTES = 1_000;
/** About 300 MB of DataRows: far more than the server may hold for a client that does not read. */
const BIG_QUERY = `select repeat('x', ${ROW_BYTES}) from generate_series(1, ${ROWS})`;
const MB = 1024 * 1024;

interface Drained {
  rows: number;
  rowBytesOk: boolean;
  tag: string | undefined;
  error: Record<string, string> | undefined;
  ready: boolean;
}

/** Reads one simple-query reply to its ReadyForQuery, counting rows without keeping them. */
async function drainReply(client: RawClient): Promise<Drained> {
  const result: Drained = { rows: 0, rowBytesOk: true, tag: undefined, error: undefined, ready: false };
  for (;;) {
    const message = await client.next();
    if (!message) return result;
    if (message.type === 'D') {
      result.rows += 1;
      if (result.rows === 1 || result.rows === ROWS) result.rowBytesOk &&= dataRow(message.body)[0]?.length === ROW_BYTES;
    } else if (message.type === 'C') result.tag = message.body.toString('utf8', 0, message.body.length - 1);
    else if (message.type === 'E') result.error = errorFields(message.body);
    else if (message.type === 'Z') {
      result.ready = true;
      return result;
    }
  }
}

function serverMemory(): { rss: number; arrayBuffers: number } {
  const { rss, arrayBuffers } = process.memoryUsage();
  return { rss, arrayBuffers };
}

describe('a client that does not read its results', () => {
  describe('its own engine backend waits for it', () => {
    let harness: Harness;
    beforeAll(async () => {
      harness = await startHarness({ streams: [], definitions: {} });
    });
    afterAll(async () => harness?.close());

    it('holds back a 300 MB result while the client stalls, then delivers every row', async () => {
      const client = await RawClient.startup(harness.server.port);
      try {
        // Warm the engine up with the same kind of statement so its own memory is already grown.
        client.write(serialize.query(`select repeat('x', ${ROW_BYTES}) from generate_series(1, 20000)`));
        expect((await drainReply(client)).rows).toBe(20_000);

        global.gc?.();
        const before = serverMemory();
        client.socket.pause();
        client.write(serialize.query(BIG_QUERY));
        // The client reads nothing for a while; the server must wait for it instead of buffering the result.
        let peak = before;
        for (let sample = 0; sample < 40; sample += 1) {
          await sleep(100);
          const now = serverMemory();
          peak = { rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
        }
        expect((peak.rss - before.rss) / MB).toBeLessThan(100);
        expect((peak.arrayBuffers - before.arrayBuffers) / MB).toBeLessThan(100);

        client.socket.resume();
        const reply = await drainReply(client);
        expect(reply).toEqual({ rows: ROWS, rowBytesOk: true, tag: `SELECT ${ROWS}`, error: undefined, ready: true });
      } finally {
        client.close();
      }
    });
  });
});
