import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { startHarness, type Harness } from '../support/harness.js';

const SECRET = 'kinesql-test-secret-9f3b';
const ACCESS_KEY = 'AKIAKINESQLTEST1234';

describe('credentials never appear in logs or errors', () => {
  let harness: Harness;
  let logs = '';

  beforeAll(async () => {
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    harness = await startHarness({
      streams: [{ name: 'present', shards: 1 }],
      definitions: {
        'present.json': { tableName: 'present', streamName: 'present' },
        'missing.json': { tableName: 'missing', streamName: 'no-such-stream' },
        'broken.json': '{"tableName": "broken", "streamName": ',
      },
      configure: (config) => ({ ...config, aws: { ...config.aws, accessKeyId: ACCESS_KEY, secretAccessKey: SECRET } }),
      logger: createLogger('trace', capture),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('keeps them out of SQL errors and every log line, at trace level', async () => {
    const client = await harness.connect();
    try {
      await harness.put('present', [{ a: 1 }]);
      expect((await client.query('select count(*)::int as n from present')).rows[0].n).toBe(1);
      const error = await client.query('select * from missing').then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(error?.code).toBe('HV00R');
      expect(error?.message).toContain('no-such-stream');
      expect(error?.message).not.toContain(SECRET);
      expect(error?.message).not.toContain(ACCESS_KEY);
    } finally {
      await client.end();
    }
    expect(logs).toContain('no-such-stream');
    expect(logs).toContain('broken.json');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(ACCESS_KEY);
  });
});
