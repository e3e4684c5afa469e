/**
 * `kinesql infer --stream NAME`: reads a sample of a stream's records and prints a table definition for
 * them (data format, columns, mappings, types), to review and save into the definitions directory.
 */
import { type Inference, inferDefinition } from './catalog/infer-fields.js';
import type { KinesqlConfig } from './config/config.js';
import { decompress } from './decode/compression.js';
import { deaggregate } from './decode/kpl.js';
import { createKinesisClient } from './kinesis/client.js';
import { sampleRecords } from './kinesis/sample-records.js';

export interface InferOptions {
  stream: string;
  /** Records to sample (default 1,000). */
  limit?: number;
  /** Sample the last sinceMs of the stream instead of its oldest records. */
  sinceMs?: number;
}

const DEFAULT_SAMPLE = 1_000;
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** The user records a Kinesis record holds: KPL aggregates opened, gzip or zlib payloads inflated. */
function payloadsOf(data: Uint8Array): Uint8Array[] {
  const unwrapped = deaggregate(data);
  const records = unwrapped.kind === 'aggregated' ? unwrapped.records.map((record) => record.data) : [data];
  return records.map((payload) => {
    const inflated = decompress(payload, 'AUTOMATIC', MAX_MESSAGE_BYTES);
    return inflated.ok ? inflated.data : payload;
  });
}

export async function inferStreamDefinition(config: KinesqlConfig, options: InferOptions): Promise<Inference> {
  const client = createKinesisClient(config.aws);
  try {
    const retry = { attempts: config.read.fetchAttempts, baseDelayMs: config.read.sleepTimeMs, maxDelayMs: 5_000, callTimeoutMs: 10_000 };
    const sampled = await sampleRecords(client, options.stream, {
      limit: options.limit ?? DEFAULT_SAMPLE,
      retry,
      ...(options.sinceMs !== undefined ? { sinceMs: options.sinceMs } : {}),
    });
    return inferDefinition(
      options.stream,
      sampled.flatMap((record) => payloadsOf(record.data)),
    );
  } finally {
    client.destroy();
  }
}
