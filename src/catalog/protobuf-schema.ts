/**
 * Protobuf schemas of `protobuf` definitions and of registry schema versions, loaded with protobufjs: .proto
 * text (with the files it imports: registry references, or the well-known google/protobuf ones) or a
 * serialized FileDescriptorSet. Field names stay as the .proto spells them (`customer_name`, not camelCase).
 */
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor.js';

export class ProtobufSchemaError extends Error {}

export interface ProtobufSource {
  /** The .proto text of the main file. */
  text?: string;
  /** Files the main file imports (directly or not), by import path, e.g. registry references. */
  imports?: ReadonlyMap<string, string>;
  /** A serialized FileDescriptorSet; its last file is the main one (protoc writes imports first). */
  descriptorSet?: Uint8Array;
}

export interface ProtobufSchema {
  root: protobuf.Root;
  /** Message types at the top of the main file in declaration order (where Confluent message indexes start). */
  topLevel: protobuf.Type[];
  /** The named type (`shop.Order`), or the first message of the main file. Throws ProtobufSchemaError. */
  messageType(name?: string): protobuf.Type;
  /** The message type Confluent message indexes name (a path: top-level message, then nested ones); undefined when none does. */
  confluentMessage(indexes: readonly number[]): protobuf.Type | undefined;
  /** The message type an AWS Glue Schema Registry message index names; undefined when none does. */
  glueMessage(index: number): protobuf.Type | undefined;
}

function parseInto(root: protobuf.Root, text: string, file: string): protobuf.IParserResult {
  try {
    return protobuf.parse(text, root, { keepCase: true });
  } catch (error) {
    throw new ProtobufSchemaError(`${file}: ${(error as Error).message}`);
  }
}

function typesIn(namespace: protobuf.NamespaceBase): protobuf.Type[] {
  return namespace.nestedArray.filter((nested): nested is protobuf.Type => nested instanceof protobuf.Type);
}

function fromText(source: ProtobufSource & { text: string }): { root: protobuf.Root; topLevel: protobuf.Type[] } {
  const root = new protobuf.Root();
  const main = parseInto(root, source.text, 'schema');
  // Read before any import is added: an imported file of the same package adds to the same namespace.
  const home = main.package ? root.lookup(main.package) : root;
  const topLevel = home instanceof protobuf.Namespace || home instanceof protobuf.Root ? typesIn(home) : [];
  const loaded = new Set<string>();
  const pending = [...(main.imports ?? []), ...(main.weakImports ?? [])];
  while (pending.length > 0) {
    const file = pending.shift() as string;
    if (loaded.has(file)) continue;
    loaded.add(file);
    const text = source.imports?.get(file);
    if (text !== undefined) {
      const imported = parseInto(root, text, file);
      pending.push(...(imported.imports ?? []), ...(imported.weakImports ?? []));
      continue;
    }
    const common = protobuf.common.get(file);
    if (!common) throw new ProtobufSchemaError(`import "${file}" is neither a well-known google/protobuf file nor one the schema comes with`);
    root.addJSON(common.nested ?? {});
  }
  return { root, topLevel };
}

function fromDescriptorSet(bytes: Uint8Array): { root: protobuf.Root; topLevel: protobuf.Type[] } {
  let root: protobuf.Root;
  let files: descriptor.IFileDescriptorProto[];
  try {
    files = descriptor.FileDescriptorSet.decode(bytes).file;
    root = protobuf.Root.fromDescriptor(bytes, { keepCase: true });
  } catch (error) {
    throw new ProtobufSchemaError(`not a serialized FileDescriptorSet: ${(error as Error).message}`);
  }
  const main = files.at(-1);
  const prefix = main?.package ? `.${main.package}.` : '.';
  const topLevel = (main?.messageType ?? []).map((message) => root.lookupType(`${prefix}${message.name}`));
  return { root, topLevel };
}

/** Every message of the main file, nested ones too, with the map-entry types protoc adds for map fields. */
function glueOrder(topLevel: protobuf.Type[]): (protobuf.Type | undefined)[] {
  const named: { name: string; type: protobuf.Type | undefined }[] = [];
  const queue = [...topLevel];
  while (queue.length > 0) {
    const type = queue.shift() as protobuf.Type;
    const fullName = type.fullName.slice(1);
    named.push({ name: fullName, type });
    for (const field of type.fieldsArray) {
      if (!field.map) continue;
      const entry = field.name.replace(/(?:^|_)([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
      named.push({ name: `${fullName}.${entry.charAt(0).toUpperCase()}${entry.slice(1)}Entry`, type: undefined });
    }
    queue.push(...typesIn(type));
  }
  // Sorted by full name, as the Glue serializers number them.
  named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return named.map((entry) => entry.type);
}

/** Loads a schema and resolves every type it names; throws ProtobufSchemaError saying what is wrong. */
export function loadProtobufSchema(source: ProtobufSource): ProtobufSchema {
  let loaded: { root: protobuf.Root; topLevel: protobuf.Type[] };
  if (source.descriptorSet !== undefined) loaded = fromDescriptorSet(source.descriptorSet);
  else if (source.text !== undefined) loaded = fromText({ ...source, text: source.text });
  else throw new ProtobufSchemaError('no schema: expected .proto text or a FileDescriptorSet');
  const { root, topLevel } = loaded;
  try {
    root.resolveAll();
  } catch (error) {
    throw new ProtobufSchemaError((error as Error).message);
  }
  let glue: (protobuf.Type | undefined)[] | undefined;
  return {
    root,
    topLevel,
    messageType(name) {
      if (name === undefined) {
        const first = topLevel[0];
        if (!first) throw new ProtobufSchemaError('the schema declares no message type');
        return first;
      }
      const found = root.lookup(name.startsWith('.') ? name : `.${name}`);
      if (found instanceof protobuf.Type) return found;
      const known = topLevel.map((type) => type.fullName.slice(1));
      throw new ProtobufSchemaError(`no message type "${name}" in the schema; it declares ${known.join(', ') || 'none at its top level'}`);
    },
    confluentMessage(indexes) {
      let candidates = topLevel;
      let found: protobuf.Type | undefined;
      for (const index of indexes) {
        found = candidates[index];
        if (!found) return undefined;
        candidates = typesIn(found);
      }
      return found;
    },
    glueMessage(index) {
      glue ??= glueOrder(topLevel);
      return glue[index];
    },
  };
}

/** A mapping step resolved against a message type. */
export type ProtobufStep =
  | { kind: 'field'; field: protobuf.Field }
  | { kind: 'element'; index: number }
  | { kind: 'entry'; key: string }
  /** Into the JSON of a google.protobuf.Struct / Value / ListValue. */
  | { kind: 'json'; step: { key: string } | { index: number } };

export const STRUCT_TYPES = new Set(['.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue']);

/**
 * Resolves a field mapping (slash names and [n] indexes) against a message type: which field each name is,
 * where an index picks a repeated element and a name a map entry. A string says why it does not resolve.
 */
export function resolveProtobufPath(type: protobuf.Type, path: readonly ({ key: string } | { index: number })[]): ProtobufStep[] | string {
  const steps: ProtobufStep[] = [];
  let message: protobuf.Type | undefined = type;
  let pending: protobuf.Field | undefined; // a repeated or map field whose element or entry comes next
  let json = false;
  for (const step of path) {
    if (json) {
      steps.push({ kind: 'json', step });
      continue;
    }
    if (pending) {
      const field: protobuf.Field = pending;
      pending = undefined;
      if (field.map) {
        steps.push({ kind: 'entry', key: 'key' in step ? step.key : String(step.index) });
      } else {
        const index = 'index' in step ? step.index : /^\d+$/.test(step.key) ? Number(step.key) : undefined;
        if (index === undefined) return `"${field.name}" is a repeated field; expected an index such as ${field.name}[0]`;
        steps.push({ kind: 'element', index });
      }
      message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
      json = message !== undefined && STRUCT_TYPES.has(message.fullName);
      continue;
    }
    if (!message) return `a step "${'key' in step ? step.key : `[${step.index}]`}" below a value that is not a message`;
    if (!('key' in step)) return `an index [${step.index}] on message ${message.fullName.slice(1)}, which is not repeated`;
    const field: protobuf.Field | undefined = message.fields[step.key];
    if (!field) return `no field "${step.key}" in message ${message.fullName.slice(1)}; it has ${Object.keys(message.fields).join(', ') || 'no fields'}`;
    steps.push({ kind: 'field', field });
    if (field.repeated || field.map) {
      pending = field;
      continue;
    }
    message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    json = message !== undefined && STRUCT_TYPES.has(message.fullName);
  }
  return steps;
}
