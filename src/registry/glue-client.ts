/**
 * Lookups in the AWS Glue Schema Registry with the AWS SDK: GetSchemaVersion by schema version id (what a
 * Glue-framed record carries) or by registry, schema name and version (what a definition may name).
 */
import { GetSchemaVersionCommand, GlueClient, type GetSchemaVersionCommandInput } from '@aws-sdk/client-glue';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { awsCredentials } from '../aws/credentials.js';
import type { KinesqlConfig } from '../config/config.js';
import type { RegistrySchema, SchemaFormat, SchemaRef } from './schema-ref.js';

const FORMATS: Record<string, SchemaFormat> = { AVRO: 'avro', PROTOBUF: 'protobuf', JSON: 'json' };

/** The registry Glue uses when a schema is named without one. */
const DEFAULT_REGISTRY = 'default-registry';

export interface GlueClientOptions {
  region?: string;
  endpoint?: string;
  /** Socket-level limit of one call (ms); the lookup's own deadline aborts it too. */
  timeoutMs: number;
}

/** A Glue client with the credentials Kinesis reads use; no SDK retries (a failed lookup is retried later). */
export function createGlueClient(aws: KinesqlConfig['aws'], options: GlueClientOptions): GlueClient {
  const credentials = awsCredentials(aws);
  return new GlueClient({
    region: options.region ?? aws.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs }),
    maxAttempts: 1,
  });
}

export async function fetchGlueSchema(client: GlueClient, ref: SchemaRef & { registry: 'glue' }, signal: AbortSignal): Promise<RegistrySchema> {
  const input: GetSchemaVersionCommandInput =
    'versionId' in ref
      ? { SchemaVersionId: ref.versionId }
      : {
          SchemaId: { RegistryName: ref.registryName ?? DEFAULT_REGISTRY, SchemaName: ref.schemaName },
          SchemaVersionNumber: ref.version === undefined ? { LatestVersion: true } : { VersionNumber: ref.version },
        };
  const answer = await client.send(new GetSchemaVersionCommand(input), { abortSignal: signal });
  const format = FORMATS[answer.DataFormat ?? ''];
  if (format === undefined) throw new Error(`GetSchemaVersion answered with data format ${JSON.stringify(answer.DataFormat)}`);
  if (answer.SchemaDefinition === undefined) throw new Error('GetSchemaVersion answered without a schema definition');
  if (answer.Status !== undefined && answer.Status !== 'AVAILABLE') throw new Error(`the schema version is ${answer.Status}, not AVAILABLE`);
  const description =
    'versionId' in ref
      ? `schema version ${ref.versionId}`
      : `schema ${ref.registryName ?? DEFAULT_REGISTRY}/${ref.schemaName} version ${ref.version ?? 'latest'}`;
  return { format, text: answer.SchemaDefinition, references: new Map(), description: `Glue ${description}` };
}
