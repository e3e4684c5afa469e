import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { awsCredentials } from '../aws/credentials.js';
import type { KinesqlConfig } from '../config/config.js';
import { SubscriptionHttp2Handler } from './subscription-http2-handler.js';

/** The SDK's client, for the layers above that hold one without calling Kinesis themselves. */
export type { KinesisClient };

export interface KinesisClientOptions {
  /** Socket-level limit for one HTTP exchange (ms); the reader also aborts calls on its own deadline. */
  requestTimeoutMs?: number;
}

/**
 * The Kinesis client every reader shares. HTTP/1.1 (NodeHttpHandler): the SDK's HTTP/2 default fails
 * against the local stand-ins. Retries are ours (kinesis/retry), not the SDK's.
 */
export function createKinesisClient(aws: KinesqlConfig['aws'], options: KinesisClientOptions = {}): KinesisClient {
  const credentials = awsCredentials(aws);
  return new KinesisClient({
    region: aws.region,
    ...(aws.kinesisEndpoint ? { endpoint: aws.kinesisEndpoint } : {}),
    ...(credentials ? { credentials } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: options.requestTimeoutMs ?? 30_000 }),
    maxAttempts: 1,
  });
}

/**
 * The client SubscribeToShard (enhanced fan-out) goes through: HTTP/2, one session per subscription. Real
 * Kinesis would take the SDK's own NodeHttp2Handler too; kinesql uses this one for every endpoint so that the
 * transport its tests run against the stand-in is the one production runs, and so that one subscription's
 * connection ending (a GOAWAY, a reset) ends only that subscription and not every shard's on a shared session.
 */
export function createSubscriptionClient(aws: KinesqlConfig['aws']): KinesisClient {
  const credentials = awsCredentials(aws);
  return new KinesisClient({
    region: aws.region,
    ...(aws.kinesisEndpoint ? { endpoint: aws.kinesisEndpoint } : {}),
    ...(credentials ? { credentials } : {}),
    requestHandler: new SubscriptionHttp2Handler({ connectTimeoutMs: 10_000 }),
    maxAttempts: 1,
  });
}

/** Streams are named by name or by ARN in table definitions; Kinesis takes either in its own parameter. */
export function streamParameter(stream: string): { StreamName: string } | { StreamARN: string } {
  return stream.startsWith('arn:') ? { StreamARN: stream } : { StreamName: stream };
}
