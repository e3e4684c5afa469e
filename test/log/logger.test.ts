import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, logFormatFor } from '../../src/log/logger.js';

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('the process logger', () => {
  it('writes readable lines for a person at a terminal and JSON lines otherwise, unless KINESQL_LOG_FORMAT says', () => {
    expect(logFormatFor({}, true)).toBe('pretty');
    expect(logFormatFor({}, false)).toBe('json');
    expect(logFormatFor({ KINESQL_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormatFor({ KINESQL_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
  });

  it('prints one line per event in the pretty format, with secrets redacted as in JSON', async () => {
    const out = collector();
    const logger = createLogger('info', out.stream, 'pretty');
    logger.info({ table: 'public.orders', password: 'hunter2' }, 'stream table ready');
    logger.warn({ shard: 'shardId-000000000001' }, 'throttled');
    // The pretty stream formats asynchronously: both events come out as lines.
    await vi.waitFor(() => expect(out.text().match(/\n/g)).toHaveLength(2));
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/INFO.*stream table ready.*public\.orders/);
    expect(lines[0]).not.toContain('hunter2');
    expect(lines[1]).toMatch(/WARN.*throttled.*shardId-000000000001/);
    expect(() => JSON.parse(lines[0]!)).toThrow();
  });

  it('writes JSON lines with the service name by default', async () => {
    const out = collector();
    createLogger('info', out.stream).info({ secretAccessKey: 'abc' }, 'hello');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect(line).toMatchObject({ service: 'kinesql', msg: 'hello', secretAccessKey: '[redacted]', level: 30 });
  });
});
