import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { KinesqlConfig } from '../config/config.js';

/** Static keys, or a provider the SDK clients call for them (and again when they expire). */
export type AwsCredentials = { accessKeyId: string; secretAccessKey: string } | ReturnType<typeof fromIni>;

/**
 * Where the credentials of kinesql's AWS clients (Kinesis, Glue) come from: static keys, else a named
 * profile, else the SDK's default chain (environment, shared files, SSO, container and instance metadata);
 * an assumed role, when configured, is taken on top of whichever of those applies.
 */
export function awsCredentials(aws: KinesqlConfig['aws']): AwsCredentials | undefined {
  const base: AwsCredentials | undefined =
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
