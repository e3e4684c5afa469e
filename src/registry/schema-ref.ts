/**
 * What a record or a definition asks a schema registry for, and what comes back. A framed record names its
 * writer schema by id (Confluent) or schema version id (AWS Glue); a definition may name a subject or a
 * registry schema, at a version or the latest.
 */
export type SchemaRef =
  | { registry: 'confluent'; id: number }
  | { registry: 'confluent'; subject: string; version?: number }
  | { registry: 'glue'; versionId: string }
  | { registry: 'glue'; registryName?: string; schemaName: string; version?: number };

export type SchemaFormat = 'avro' | 'protobuf' | 'json';

/** A writer schema as a registry holds it. */
export interface RegistrySchema {
  format: SchemaFormat;
  /** The schema text: Avro JSON, .proto text, or a JSON Schema. */
  text: string;
  /** Schemas it refers to (protobuf imports, Avro named types), by reference name (the import path for protobuf). */
  references: ReadonlyMap<string, string>;
  /** Says which schema this is in messages: `Confluent schema id 7`, `Glue schema version 3f…`. */
  description: string;
}

/** The cache key of a reference (and a short name for it in errors). */
export function refKey(ref: SchemaRef): string {
  if (ref.registry === 'confluent') {
    return 'id' in ref ? `confluent schema id ${ref.id}` : `confluent subject ${ref.subject} version ${ref.version ?? 'latest'}`;
  }
  if ('versionId' in ref) return `glue schema version ${ref.versionId}`;
  return `glue schema ${ref.registryName ?? 'default-registry'}/${ref.schemaName} version ${ref.version ?? 'latest'}`;
}

/** Does the reference move over time (a latest version), so that what it gave is looked up again now and then? */
export function isMoving(ref: SchemaRef): boolean {
  return !('id' in ref) && !('versionId' in ref) && ref.version === undefined;
}
