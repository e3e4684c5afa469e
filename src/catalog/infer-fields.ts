/**
 * A table definition guessed from sample messages: the data format (JSON objects or CSV lines), one column
 * per JSON path (slash-separated, as definitions map them) or CSV index, and the narrowest type every sample
 * value fits. What `kinesql infer` prints for a user to review and save.
 */

export interface InferredField {
  name: string;
  type: string;
  mapping: string;
  dataFormat?: string;
  comment: string;
}

export interface InferredDefinition {
  tableName: string;
  streamName: string;
  /** Absent when the samples have no structure kinesql can map: then only the internal columns. */
  message?: { dataFormat: 'json' | 'csv'; fields: InferredField[] };
}

export interface Inference {
  definition: InferredDefinition;
  /** What the user should know: how many samples, how many did not fit the format. */
  notes: string[];
}

/** Nested objects become slash paths down to this depth; deeper ones are kept whole as JSON. */
const MAX_DEPTH = 3;
const INTERNAL_PREFIX = '_';

type ValueKind = 'boolean' | 'integer' | 'bigint' | 'double' | 'timestamptz' | 'timestamp' | 'date' | 'text' | 'json';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIMESTAMP_ZONED = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;
const ISO_TIMESTAMP_LOCAL = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$/;
const INTEGER_TEXT = /^-?\d{1,18}$/;
const DECIMAL_TEXT = /^-?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/;

function kindOfText(text: string): ValueKind {
  if (ISO_TIMESTAMP_ZONED.test(text) && !Number.isNaN(Date.parse(text))) return 'timestamptz';
  if (ISO_TIMESTAMP_LOCAL.test(text)) return 'timestamp';
  if (ISO_DATE.test(text)) return 'date';
  return 'text';
}

function kindOfJson(value: unknown): ValueKind {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'double';
    return Math.abs(value) <= 2 ** 31 - 1 ? 'integer' : 'bigint';
  }
  if (typeof value === 'string') return kindOfText(value);
  return 'json';
}

function kindOfCsv(text: string): ValueKind {
  if (text === 'true' || text === 'false') return 'boolean';
  if (INTEGER_TEXT.test(text)) return Math.abs(Number(text)) <= 2 ** 31 - 1 ? 'integer' : 'bigint';
  if (DECIMAL_TEXT.test(text)) return 'double';
  return kindOfText(text);
}

/** The kind that holds values of both kinds. */
function widen(a: ValueKind, b: ValueKind): ValueKind {
  if (a === b) return a;
  const numeric: ValueKind[] = ['integer', 'bigint', 'double'];
  if (numeric.includes(a) && numeric.includes(b)) return numeric[Math.max(numeric.indexOf(a), numeric.indexOf(b))]!;
  const temporal: ValueKind[] = ['date', 'timestamp', 'timestamptz'];
  if (temporal.includes(a) && temporal.includes(b)) return a === 'timestamptz' || b === 'timestamptz' ? 'text' : 'timestamp';
  return a === 'json' || b === 'json' ? 'json' : 'text';
}

function typeOf(kind: ValueKind): { type: string; dataFormat?: string } {
  switch (kind) {
    case 'boolean':
      return { type: 'BOOLEAN' };
    case 'integer':
      return { type: 'INTEGER' };
    case 'bigint':
      return { type: 'BIGINT' };
    case 'double':
      return { type: 'DOUBLE' };
    case 'timestamptz':
      return { type: 'TIMESTAMP WITH TIME ZONE', dataFormat: 'iso8601' };
    case 'timestamp':
      return { type: 'TIMESTAMP', dataFormat: 'iso8601' };
    case 'date':
      return { type: 'DATE', dataFormat: 'iso8601' };
    case 'json':
      return { type: 'JSON' };
    case 'text':
      return { type: 'VARCHAR' };
  }
}

interface Observed {
  kind: ValueKind | undefined;
  present: number;
  /** Order of first appearance, which becomes the column order. */
  order: number;
}

function observe(paths: Map<string, Observed>, path: string, kind: ValueKind | undefined): void {
  const seen = paths.get(path);
  if (seen === undefined) {
    paths.set(path, { kind, present: kind === undefined ? 0 : 1, order: paths.size });
    return;
  }
  if (kind === undefined) return;
  seen.present += 1;
  seen.kind = seen.kind === undefined ? kind : widen(seen.kind, kind);
}

function walkObject(paths: Map<string, Observed>, value: Record<string, unknown>, prefix: string, depth: number): void {
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('/')) continue;
    const path = prefix === '' ? key : `${prefix}/${key}`;
    if (child === null) observe(paths, path, undefined);
    else if (typeof child === 'object' && !Array.isArray(child) && depth < MAX_DEPTH) walkObject(paths, child as Record<string, unknown>, path, depth + 1);
    else observe(paths, path, kindOfJson(child));
  }
}

/** A lower-case SQL name from a mapping: letters, digits and underscores, not starting like kinesql's own columns. */
function columnName(mapping: string, taken: Set<string>): string {
  let name = mapping
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (name === '' || /^\d/.test(name)) name = `c_${name}`;
  if (name.startsWith(INTERNAL_PREFIX)) name = name.replace(/^_+/, '');
  let unique = name;
  for (let n = 2; taken.has(unique); n += 1) unique = `${name}_${n}`;
  taken.add(unique);
  return unique;
}

function fieldsFrom(paths: Map<string, Observed>, samples: number): InferredField[] {
  const taken = new Set<string>();
  return [...paths.entries()]
    .sort((a, b) => a[1].order - b[1].order)
    .map(([mapping, seen]) => {
      const { type, dataFormat } = typeOf(seen.kind ?? 'text');
      return {
        name: columnName(mapping, taken),
        type,
        mapping,
        ...(dataFormat !== undefined ? { dataFormat } : {}),
        comment: `present in ${seen.present} of ${samples} sampled records`,
      };
    });
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits one CSV line as the csv decoder reads it: commas, with double quotes around a field that holds one. */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        current += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else current += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(current);
      current = '';
    } else current += char;
  }
  fields.push(current);
  return fields;
}

/** Names made from a stream name: `orders-eu` is queried as `orders_eu`. */
export function tableNameFor(streamName: string): string {
  return columnName(streamName, new Set());
}

/**
 * Guesses a definition from sample payloads (already de-aggregated and decompressed). JSON when most samples
 * are JSON objects; CSV when the lines have a steady number of commas; otherwise no message (internal columns only).
 */
export function inferDefinition(streamName: string, payloads: Uint8Array[]): Inference {
  const base = { tableName: tableNameFor(streamName), streamName };
  const texts = payloads.map((payload) => Buffer.from(payload).toString('utf8'));
  if (texts.length === 0) {
    return {
      definition: base,
      notes: ['the stream holds no records to sample: the definition has only the internal columns (_message, _partition_key, …)'],
    };
  }
  const objects = texts.map(parseJsonObject);
  const jsonCount = objects.filter((object) => object !== undefined).length;
  if (jsonCount >= texts.length / 2) {
    const paths = new Map<string, Observed>();
    for (const object of objects) if (object !== undefined) walkObject(paths, object, '', 1);
    const notes = [`sampled ${texts.length} records: ${jsonCount} JSON objects`];
    if (jsonCount < texts.length) notes.push(`${texts.length - jsonCount} records are not JSON objects: their rows will have _message_valid = false`);
    return { definition: { ...base, message: { dataFormat: 'json', fields: fieldsFrom(paths, jsonCount) } }, notes };
  }
  const lines = texts.map((text) => csvFields(text.replace(/\r?\n$/, '')));
  const widths = new Map<number, number>();
  for (const fields of lines) widths.set(fields.length, (widths.get(fields.length) ?? 0) + 1);
  const [width, count] = [...widths.entries()].sort((a, b) => b[1] - a[1])[0]!;
  if (width > 1 && count >= texts.length * 0.9) {
    const paths = new Map<string, Observed>();
    for (let index = 0; index < width; index += 1) paths.set(String(index), { kind: undefined, present: 0, order: index });
    for (const fields of lines) {
      fields.forEach((field, index) => {
        if (index < width) observe(paths, String(index), field === '' ? undefined : kindOfCsv(field));
      });
    }
    const fields = fieldsFrom(paths, texts.length).map((field) => ({ ...field, name: `column_${field.mapping}` }));
    return { definition: { ...base, message: { dataFormat: 'csv', fields } }, notes: [`sampled ${texts.length} records: CSV lines of ${width} fields`] };
  }
  return {
    definition: base,
    notes: [`sampled ${texts.length} records: neither JSON objects nor CSV lines; the definition has only the internal columns (_message holds each record)`],
  };
}
