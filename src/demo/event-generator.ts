import { randomUUID } from 'node:crypto';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';

const EVENT_TYPES = ['view', 'view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'] as const;
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE', 'PL', 'JP'];
const DEVICES = [
  { os: 'iOS', browser: 'Safari', mobile: true },
  { os: 'Android', browser: 'Chrome', mobile: true },
  { os: 'Windows', browser: 'Edge', mobile: false },
  { os: 'macOS', browser: 'Firefox', mobile: false },
  { os: 'Linux', browser: 'Chrome', mobile: false },
];

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** One shop event as a JSON object: what the demo table definition maps to columns. */
export function demoEvent(now = new Date()): Record<string, unknown> {
  const eventType = pick(EVENT_TYPES);
  return {
    event_id: randomUUID(),
    user_id: 1000 + Math.floor(Math.random() * 500),
    event_type: eventType,
    amount: eventType === 'purchase' ? Math.round(Math.random() * 20_000) / 100 : null,
    country: pick(COUNTRIES),
    page: `/products/${Math.floor(Math.random() * 200)}`,
    event_time: now.toISOString(),
    device: { ...pick(DEVICES), screen: { width: pick([390, 412, 1440, 1920]), height: pick([844, 915, 900, 1080]) } },
  };
}

/** Keeps putting a few dozen events a second into a stream until stopped. */
export function startEventGenerator(client: KinesisClient, streamName: string, logger: Logger, eventsPerSecond = 30): () => Promise<void> {
  let stopped = false;
  const tickMs = 200;
  const perTick = Math.max(1, Math.round((eventsPerSecond * tickMs) / 1000));
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(async () => {
      const records = Array.from({ length: 1 + Math.floor(Math.random() * perTick * 2) }, () => {
        const event = demoEvent();
        return { Data: Buffer.from(JSON.stringify(event)), PartitionKey: String(event.user_id) };
      });
      try {
        await client.send(new PutRecordsCommand({ StreamName: streamName, Records: records }));
      } catch (error) {
        if (!stopped) logger.warn({ err: error, stream: streamName }, 'demo generator could not put records');
      }
    });
  }, tickMs);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
