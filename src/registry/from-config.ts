import type { GlueClient } from '@aws-sdk/client-glue';
import type { Logger } from 'pino';
import { DEFAULT_SCHEMA_REGISTRY_CONFIG, type KinesqlConfig } from '../config/config.js';
import { ConfluentRegistryClient } from './confluent-client.js';
import { createGlueClient, fetchGlueSchema } from './glue-client.js';
import { SchemaRegistries } from './schema-registries.js';

export interface ConfiguredRegistries {
  registries: SchemaRegistries;
  close(): void;
}

/**
 * The registries a server's configuration names. A Glue client is made on the first Glue lookup: for
 * Glue-framed records when kinesis.glue-schema-registry is on, or for a definition that names a Glue schema.
 */
export function createSchemaRegistries(config: KinesqlConfig, logger: Logger): ConfiguredRegistries {
  const settings = { ...DEFAULT_SCHEMA_REGISTRY_CONFIG, ...config.schemaRegistry };
  let glue: GlueClient | undefined;
  const glueClient = (): GlueClient => {
    glue ??= createGlueClient(config.aws, {
      timeoutMs: settings.timeoutMs,
      ...(settings.glueRegion === undefined ? {} : { region: settings.glueRegion }),
      ...(settings.glueEndpoint === undefined ? {} : { endpoint: settings.glueEndpoint }),
    });
    return glue;
  };
  const registries = new SchemaRegistries({
    ...(settings.url === undefined
      ? {}
      : { confluent: new ConfluentRegistryClient({ url: settings.url, ...(settings.userInfo === undefined ? {} : { userInfo: settings.userInfo }) }) }),
    glue: (ref, signal) => fetchGlueSchema(glueClient(), ref, signal),
    glueFramedRecords: settings.glue,
    timeoutMs: settings.timeoutMs,
    retryIntervalMs: settings.retryIntervalMs,
    logger,
  });
  return { registries, close: () => glue?.destroy() };
}
