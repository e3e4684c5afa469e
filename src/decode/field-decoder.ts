import type { FieldDefinition } from '../catalog/definition.js';
import { createConverter, type Converter } from './convert.js';
import { createDateParser, DATE_FORMATS } from './date-format.js';

const TEMPORAL = new Set(['date', 'time', 'timestamp', 'timestamptz']);

/**
 * The converter of a json/csv/avro field: its column type plus, for date/time columns, its date format.
 * A dataFormat that is not a date format is refused at creation.
 */
export function createFieldConverter(field: FieldDefinition): Converter {
  const format = field.dataFormat?.trim();
  if (format !== undefined && format !== '' && !(DATE_FORMATS as readonly string[]).includes(format.toLowerCase())) {
    throw new Error(`field "${field.name}": unknown dataFormat "${field.dataFormat}"; expected one of ${DATE_FORMATS.join(', ')}`);
  }
  if (!TEMPORAL.has(field.type.kind)) return createConverter(field.name, field.type);
  return createConverter(field.name, field.type, createDateParser(field.name, format, field.formatHint));
}
