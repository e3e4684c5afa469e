/**
 * Avro schemas (the writer schema of a definition's `dataSchema`), parsed into a type graph that the
 * binary decoder walks. Named types may refer to themselves (recursive records).
 */
export type AvroPrimitive = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string';

export type AvroType =
  | { type: AvroPrimitive; logicalType?: string; scale?: number }
  | { type: 'record'; name: string; fields: { name: string; type: AvroType }[] }
  | { type: 'enum'; name: string; symbols: string[] }
  | { type: 'array'; items: AvroType }
  | { type: 'map'; values: AvroType }
  | { type: 'fixed'; name: string; size: number; logicalType?: string; scale?: number }
  | { type: 'union'; branches: AvroType[] };

export class AvroSchemaError extends Error {}

const PRIMITIVES = new Set<string>(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function logicalScale(schema: Record<string, unknown>): { logicalType?: string; scale?: number } {
  const logicalType = typeof schema.logicalType === 'string' ? schema.logicalType : undefined;
  if (logicalType === undefined) return {};
  if (logicalType === 'decimal') {
    const scale = schema.scale === undefined ? 0 : schema.scale;
    if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0) throw new AvroSchemaError('decimal scale must be a non-negative integer');
    return { logicalType, scale };
  }
  return { logicalType };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AvroSchemaError(`schema is not JSON: ${(error as Error).message}`);
  }
}

/**
 * Parses writer-schema JSON text; throws AvroSchemaError saying what is wrong. `references` are schemas
 * whose named types it may use (a registry's schema references), parsed first.
 */
export function parseAvroSchema(text: string, references: readonly string[] = []): AvroType {
  const json = parseJson(text);
  const named = new Map<string, AvroType>();

  const parse = (schema: unknown, namespace: string | undefined): AvroType => {
    if (typeof schema === 'string') {
      if (PRIMITIVES.has(schema)) return { type: schema as AvroPrimitive };
      const found = named.get(fullName(schema, namespace)) ?? named.get(schema);
      if (!found) throw new AvroSchemaError(`unknown type "${schema}"`);
      return found;
    }
    if (Array.isArray(schema)) {
      if (schema.length === 0) throw new AvroSchemaError('empty union');
      return { type: 'union', branches: schema.map((branch) => parse(branch, namespace)) };
    }
    if (schema === null || typeof schema !== 'object') throw new AvroSchemaError(`not a schema: ${JSON.stringify(schema)}`);
    const object = schema as Record<string, unknown>;
    const type = object.type;
    if (typeof type === 'string' && PRIMITIVES.has(type)) return { type: type as AvroPrimitive, ...logicalScale(object) };
    const define = (node: AvroType & { name: string }): void => {
      const nameText = object.name;
      if (typeof nameText !== 'string' || !nameText.split('.').every((part) => NAME.test(part))) {
        throw new AvroSchemaError(`${String(type)} needs a valid name`);
      }
      const ns = typeof object.namespace === 'string' ? object.namespace : namespace;
      node.name = fullName(nameText, ns);
      if (named.has(node.name)) throw new AvroSchemaError(`type "${node.name}" is defined twice`);
      named.set(node.name, node);
      if (!node.name.includes('.') || node.name === nameText) named.set(nameText, node);
    };
    switch (type) {
      case 'record':
      case 'error': {
        const node: AvroType & { type: 'record' } = { type: 'record', name: '', fields: [] };
        define(node);
        const ns = node.name.includes('.') ? node.name.slice(0, node.name.lastIndexOf('.')) : namespace;
        if (!Array.isArray(object.fields)) throw new AvroSchemaError(`record "${node.name}" needs a fields array`);
        for (const fieldSchema of object.fields as unknown[]) {
          const field = fieldSchema as Record<string, unknown> | null;
          if (!field || typeof field.name !== 'string' || !NAME.test(field.name))
            throw new AvroSchemaError(`record "${node.name}" has a field without a valid name`);
          if (node.fields.some((f) => f.name === field.name)) throw new AvroSchemaError(`record "${node.name}" has field "${field.name}" twice`);
          if (field.type === undefined) throw new AvroSchemaError(`field "${field.name}" of record "${node.name}" has no type`);
          node.fields.push({ name: field.name, type: parse(field.type, ns) });
        }
        return node;
      }
      case 'enum': {
        const symbols = object.symbols;
        if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === 'string')) throw new AvroSchemaError('enum needs a symbols array of strings');
        const node: AvroType & { type: 'enum' } = { type: 'enum', name: '', symbols: symbols as string[] };
        define(node);
        return node;
      }
      case 'fixed': {
        const size = object.size;
        if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw new AvroSchemaError('fixed needs a non-negative integer size');
        const node: AvroType & { type: 'fixed' } = { type: 'fixed', name: '', size, ...logicalScale(object) };
        define(node);
        return node;
      }
      case 'array':
        if (object.items === undefined) throw new AvroSchemaError('array needs items');
        return { type: 'array', items: parse(object.items, namespace) };
      case 'map':
        if (object.values === undefined) throw new AvroSchemaError('map needs values');
        return { type: 'map', values: parse(object.values, namespace) };
      default:
        if (typeof type === 'object' && type !== null) return parse(type, namespace);
        throw new AvroSchemaError(`unknown type ${JSON.stringify(type)}`);
    }
  };
  for (const reference of references) parse(parseJson(reference), undefined);
  return parse(json, undefined);
}
