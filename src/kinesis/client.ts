import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesqlConfig } from '../config/config.js';

/**
 * The Kinesis client every reader shares. HTTP/1.1 (NodeHttpHandler): the SDK's HTTP/2 default fails
 * against the local stand-ins (DESIGN.md §5). Retries are ours (kinesis/backoff), not the SDK's.
 */
export function createKinesisClient(aws: KinesqlConfig['aws']): KinesisClient {
  return new KinesisClient({
    region: aws.region,
    ...(aws.kinesisEndpoint ? { endpoint: aws.kinesisEndpoint } : {}),
    ...(aws.accessKeyId && aws.secretAccessKey
      ? { credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey } }
      : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
    maxAttempts: 1,
  });
}
