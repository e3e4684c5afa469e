/**
 * Which writer schema decodes a payload of an `avro` or `protobuf` table. A payload framed for a registry in
 * use is decoded with the schema its framing names (so records of several schema versions decode into one
 * table, their fields matched by name); any other payload with the definition's own schema: the one pasted,
 * or the subject / registry schema it names. Registry schemas are compiled once per version.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import { refKey, type RegistrySchema, type SchemaRef } from '../registry/schema-ref.js';
import { readFraming, type Framing } from './registry-framing.js';

export type WriterChoice<W> =
  /** The registry's schema for a framed payload: the datum starts after the framing. */
  | { kind: 'registry'; framing: Framing; writer: W }
  /** The definition's schema; a payload that looks framed may be framed (for a registry not in use) or not. */
  | { kind: 'own'; framing: Framing | undefined; writer: W }
  | { kind: 'missing'; error: string };

export class WriterSchemas<W> {
  private readonly compiled = new WeakMap<RegistrySchema, W | Error>();
  private readonly ownRef: SchemaRef | undefined;
  private readonly confluentFraming: boolean;
  private readonly glueFraming: boolean;

  constructor(
    message: MessageDefinition,
    private readonly registries: SchemaRegistries | undefined,
    /** The pasted schema, compiled (undefined when the definition has none). */
    private readonly pasted: W | undefined,
    private readonly compile: (schema: RegistrySchema) => W,
  ) {
    const named = message.schemaRegistry;
    if (named?.type === 'confluent' && named.subject !== undefined) {
      this.ownRef = { registry: 'confluent', subject: named.subject, ...(named.version === undefined ? {} : { version: named.version }) };
    } else if (named?.type === 'glue' && named.schemaName !== undefined) {
      this.ownRef = {
        registry: 'glue',
        schemaName: named.schemaName,
        ...(named.registryName === undefined ? {} : { registryName: named.registryName }),
        ...(named.version === undefined ? {} : { version: named.version }),
      };
    }
    this.confluentFraming = named?.type === 'confluent' || registries?.confluentFraming === true;
    this.glueFraming = named?.type === 'glue' || registries?.glueFraming === true;
  }

  /** Does any payload of this table need a registry lookup? */
  get usesRegistry(): boolean {
    return this.confluentFraming || this.glueFraming || this.ownRef !== undefined;
  }

  /** The registry schema a payload needs, if it needs one. */
  refFor(payload: Uint8Array): SchemaRef | undefined {
    const framing = readFraming(payload);
    return this.registryRef(framing) ?? this.ownRef;
  }

  choose(payload: Uint8Array): WriterChoice<W> {
    const framing = readFraming(payload);
    const ref = this.registryRef(framing);
    if (ref !== undefined && framing !== undefined) {
      const writer = this.writerFor(ref);
      return writer instanceof Error ? { kind: 'missing', error: writer.message } : { kind: 'registry', framing, writer };
    }
    if (this.ownRef !== undefined) {
      const writer = this.writerFor(this.ownRef);
      return writer instanceof Error ? { kind: 'missing', error: writer.message } : { kind: 'own', framing, writer };
    }
    if (this.pasted !== undefined) return { kind: 'own', framing, writer: this.pasted };
    return { kind: 'missing', error: framing ? `the record's ${framing.kind} framing names a registry that is not in use` : 'the record names no schema' };
  }

  /** Why a schema cannot decode records now (lookup failed, wrong format, does not parse), or undefined. */
  problemWith(ref: SchemaRef): string | undefined {
    const writer = this.writerFor(ref);
    return writer instanceof Error ? writer.message : undefined;
  }

  private registryRef(framing: Framing | undefined): SchemaRef | undefined {
    if (framing?.kind === 'confluent' && this.confluentFraming) return { registry: 'confluent', id: framing.id };
    if (framing?.kind === 'glue' && this.glueFraming) return { registry: 'glue', versionId: framing.versionId };
    return undefined;
  }

  private writerFor(ref: SchemaRef): W | Error {
    const found = this.registries?.lookup(ref) ?? { state: 'failed' as const, error: 'no schema registry is configured' };
    if (found.state === 'unknown') return new Error(`${refKey(ref)}: not looked up yet`);
    if (found.state === 'failed') return new Error(found.error);
    let writer = this.compiled.get(found.schema);
    if (writer === undefined) {
      try {
        writer = this.compile(found.schema);
      } catch (error) {
        writer = new Error(`${found.schema.description}: ${(error as Error).message}`);
      }
      this.compiled.set(found.schema, writer);
    }
    return writer;
  }
}
