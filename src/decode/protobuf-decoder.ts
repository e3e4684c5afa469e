/**
 * The `protobuf` decoder: one serialized message per record, decoded with protobufjs. The message type is
 * the definition's (`messageType`, else the schema's first message) or, for a record framed for a schema
 * registry, the one its framing names: Confluent writes message indexes after the schema id (a zig-zag varint
 * count, then the indexes; a lone 0 means the first message), Glue one varint indexing the file's messages
 * sorted by full name. Fields are slash paths of field names (`order/items[0]/sku`, `attributes/color` into a
 * map) resolved in the record's own type, so records of several schema versions share one table; a path a
 * version lacks gives NULL. Unknown fields are skipped; bytes that do not decode make the row invalid.
 */
import protobuf from 'protobufjs';
import type { MessageDefinition } from '../catalog/definition.js';
import { loadProtobufSchema, resolveProtobufPath, type ProtobufSchema } from '../catalog/protobuf-schema.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import type { RegistrySchema } from '../registry/schema-ref.js';
import type { Converter } from './convert.js';
import type { DecodedRow, MappingMatches, MessageDecoder } from './decoder.js';
import { createFieldConverter } from './field-decoder.js';
import { parseFieldPath, type PathStep } from './field-path.js';
import { compileReader, type ValueReader } from './protobuf-values.js';
import { ProtobufError, ProtobufReader } from './protobuf-wire.js';
import type { Framing } from './registry-framing.js';
import { INVALID } from './source-value.js';
import { WriterSchemas, type WriterChoice } from './writer-schemas.js';

/** Confluent message-index paths longer than this are taken for garbage. */
const MAX_MESSAGE_INDEXES = 64;

/** A message type with the definition's mappings resolved in it (undefined: the type has no such field). */
interface CompiledType {
  type: protobuf.Type;
  readers: (ValueReader | undefined)[];
}

/** One schema (pasted, or one registry version) with its message types compiled as records use them. */
class ProtobufWriter {
  private readonly compiled = new Map<protobuf.Type, CompiledType>();

  constructor(
    readonly schema: ProtobufSchema,
    /** The type of records that do not say theirs. */
    readonly defaultType: protobuf.Type,
    /** The definition names its type: records framed for a registry not in use are decoded as that type. */
    readonly typeNamed: boolean,
    private readonly paths: PathStep[][],
  ) {}

  forType(type: protobuf.Type): CompiledType {
    let compiled = this.compiled.get(type);
    if (compiled === undefined) {
      const readers = this.paths.map((path) => {
        const steps = resolveProtobufPath(type, path);
        return typeof steps === 'string' ? undefined : compileReader(steps);
      });
      compiled = { type, readers };
      this.compiled.set(type, compiled);
    }
    return compiled;
  }
}

function zigZag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** The type a framed datum names and where its message starts; undefined when the indexes are garbage. */
function framedType(writer: ProtobufWriter, framing: Framing, payload: Uint8Array): { type: protobuf.Type; start: number } | undefined {
  const reader = new ProtobufReader(payload.subarray(framing.bodyStart));
  try {
    let type: protobuf.Type | undefined;
    if (framing.kind === 'confluent') {
      const count = zigZag(reader.readVarint());
      if (count < 0 || count > MAX_MESSAGE_INDEXES) return undefined;
      const indexes = count === 0 ? [0] : Array.from({ length: count }, () => zigZag(reader.readVarint()));
      type = writer.schema.confluentMessage(indexes);
    } else type = writer.schema.glueMessage(reader.readVarint());
    return type === undefined ? undefined : { type, start: framing.bodyStart + reader.offset };
  } catch (error) {
    if (error instanceof ProtobufError) return undefined;
    throw error;
  }
}

function locate(
  choice: WriterChoice<ProtobufWriter> & { kind: 'registry' | 'own' },
  payload: Uint8Array,
): { compiled: CompiledType; start: number } | undefined {
  const writer = choice.writer;
  // No protobuf message starts with byte 0 or 3 (field number 0), so a framed-looking record is framed.
  if (choice.framing === undefined) return { compiled: writer.forType(writer.defaultType), start: 0 };
  const framed = framedType(writer, choice.framing, payload);
  if (framed === undefined) return undefined;
  const type = choice.kind === 'own' && writer.typeNamed ? writer.defaultType : framed.type;
  return { compiled: writer.forType(type), start: framed.start };
}

function loadOwnSchema(message: MessageDefinition): ProtobufSchema | undefined {
  if (message.descriptorSet !== undefined) return loadProtobufSchema({ descriptorSet: Buffer.from(message.descriptorSet, 'base64') });
  if (message.dataSchema !== undefined && message.dataSchema.trim() !== '') return loadProtobufSchema({ text: message.dataSchema });
  return undefined;
}

export function createProtobufDecoder(message: MessageDefinition, registries?: SchemaRegistries): MessageDecoder {
  const paths = message.fields.map((field) => parseFieldPath(field.name, field.mapping ?? field.name));
  const converters: Converter[] = message.fields.map(createFieldConverter);
  const own = loadOwnSchema(message);
  if (own === undefined && message.schemaRegistry === undefined) {
    throw new Error('protobuf messages need a schema: dataSchema (.proto text or file), a descriptor set, or a schemaRegistry');
  }
  const typeNamed = message.messageType !== undefined;
  const pasted = own && new ProtobufWriter(own, own.messageType(message.messageType), typeNamed, paths);
  const compile = (fetched: RegistrySchema): ProtobufWriter => {
    if (fetched.format !== 'protobuf') throw new Error(`is a ${fetched.format} schema; this table decodes protobuf`);
    const schema = loadProtobufSchema({ text: fetched.text, imports: fetched.references });
    const named = typeNamed ? schema.root.lookup(message.messageType as string) : null;
    return new ProtobufWriter(schema, named instanceof protobuf.Type ? named : schema.messageType(), typeNamed, paths);
  };
  const writers = new WriterSchemas(message, registries, pasted, compile);
  const invalidRow = (): DecodedRow => ({ values: paths.map(() => null), valid: false });

  const decoder: MessageDecoder = {
    decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow {
      const choice = writers.choose(payload);
      if (choice.kind === 'missing') return invalidRow();
      const located = locate(choice, payload);
      if (located === undefined) return invalidRow();
      const { compiled, start } = located;
      let decoded: Record<string, unknown>;
      try {
        decoded = compiled.type.decode(start === 0 ? payload : payload.subarray(start)) as unknown as Record<string, unknown>;
      } catch {
        return invalidRow();
      }
      const values = new Array<string | null>(paths.length);
      let valid = true;
      if (matches) matches.messages += 1;
      for (let i = 0; i < paths.length; i++) {
        const reader = compiled.readers[i];
        // The field is the message type's: unset in this message, it has the type's default.
        if (matches && reader !== undefined) matches.perField[i]! += 1;
        const source = reader?.(decoded);
        if (source === undefined || source === null) {
          values[i] = null;
          continue;
        }
        const converted = (converters[i] as Converter)(source);
        if (converted === INVALID) {
          values[i] = null;
          valid = false;
        } else values[i] = converted;
      }
      return { values, valid };
    },
  };
  if (writers.usesRegistry) {
    decoder.schemaNeeded = (payload) => writers.refFor(payload);
    decoder.schemaProblem = (ref) => writers.problemWith(ref);
  }
  return decoder;
}
