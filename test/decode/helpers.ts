import { parseColumnType } from '../../src/catalog/column-type.js';
import type { DataFormat, FieldDefinition, MessageDefinition } from '../../src/catalog/definition.js';

export interface FieldSpec {
  name?: string;
  type: string;
  mapping?: string;
  dataFormat?: string;
  formatHint?: string;
}

export function field(spec: FieldSpec, index = 0): FieldDefinition {
  return {
    name: spec.name ?? `f${index}`,
    type: parseColumnType(spec.type),
    hidden: false,
    ...(spec.mapping !== undefined ? { mapping: spec.mapping } : {}),
    ...(spec.dataFormat !== undefined ? { dataFormat: spec.dataFormat } : {}),
    ...(spec.formatHint !== undefined ? { formatHint: spec.formatHint } : {}),
  };
}

export function messageDefinition(dataFormat: DataFormat, specs: FieldSpec[], extra: Partial<MessageDefinition> = {}): MessageDefinition {
  return { dataFormat, compressionCodec: 'UNCOMPRESSED', fields: specs.map((spec, i) => field(spec, i)), ...extra };
}

export const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

/** One column type of each kind a definition can map to (and with a length or scale where it matters). */
export const COLUMN_TYPES: readonly string[] = [
  'smallint',
  'integer',
  'bigint',
  'real',
  'double',
  'decimal(6,2)',
  'numeric',
  'boolean',
  'varchar',
  'varchar(3)',
  'char(2)',
  'date',
  'time',
  'timestamp',
  'timestamp with time zone',
  'varbinary',
  'json',
  'uuid',
];
