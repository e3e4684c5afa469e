import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesqlConfig } from '../config/config.js';
import { SubscriptionHttp2Handler } from './subscription-http2-handler.js';

export interface KinesisClientOptions {
  /** Socket-level limit for one HTTP exchange (ms); the reader also aborts calls on its own deadline. */
  requestTimeoutMs?: number;
}

/**
 * Where Kinesis credentials come from: static keys, else a named profile, else the SDK's default chain
 * (environment, shared files, SSO, container and instance metadata); an assumed role, when configured,
 * is taken on top of whichever of those applies.
 */
type Credentials = NonNullable<KinesisClientConfig['credentials']>;

export function kinesisCredentials(aws: KinesqlConfig['aws']): Credentials | undefined {
  const base: Credentials | undefined =
    aws.accessKeyId && aws.secretAccessKey
      ? { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey }
      : aws.profile
        ? fromIni({ profile: aws.profile })
        : undefined;
  if (!aws.roleArn) return base;
  return fromTemporaryCredentials({
    params: {
      RoleArn: aws.roleArn,
      RoleSessionName: aws.roleSessionName ?? 'kinesql',
      ...(aws.externalId ? { ExternalId: aws.externalId } : {}),
    },
    ...(base ? { masterCredentials: base } : {}),
    clientConfig: { region: aws.region },
  });
}

/**
 * The Kinesis client every reader shares. HTTP/1.1 (NodeHttpHandler): the SDK's HTTP/2 default fails
 * against the local stand-ins. Retries are ours (kinesis/retry), not the SDK's.
 */
export function createKinesisClient(aws: KinesqlConfig['aws'], options: KinesisClientOptions = {}): KinesisClient {
  const credentials = kinesisCredentials(aws);
  return new KinesisClient({
    region: aws.region,
    ...(aws.kinesisEndpoint ? { endpoint: aws.kinesisEndpoint } : {}),
    ...(credentials ? { credentials } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: options.requestTimeoutMs ?? 30_000 }),
    maxAttempts: 1,
  });
}

/** The client SubscribeToShard (enhanced fan-out) goes through: HTTP/2, one session per subscription. */
export function createSubscriptionClient(aws: KinesqlConfig['aws']): KinesisClient {
  const credentials = kinesisCredentials(aws);
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
