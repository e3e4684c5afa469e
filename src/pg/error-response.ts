/**
 * ErrorResponse and NoticeResponse: the one writer of kinesql's own, and the reader of the engine's. Fields
 * go in the order PostgreSQL sends them: S (severity), V (severity, not localized), C (SQLSTATE), M
 * (message), D (detail), H (hint), P (position), then a terminating NUL.
 */
import { cstring, typedMessage } from './framing.js';
import type { ErrorFields, Severity } from './pg-error.js';

const ERROR_RESPONSE = 'E';
const NOTICE_RESPONSE = 'N';
const TERMINATOR = Buffer.from([0]);

function field(code: string, value: string): Buffer {
  return cstring(`${code}${value}`);
}

function fieldsBody(fields: ErrorFields, severity: Severity): Buffer[] {
  const parts = [field('S', severity), field('V', severity), field('C', fields.sqlstate), field('M', fields.message)];
  if (fields.detail !== undefined) parts.push(field('D', fields.detail));
  if (fields.hint !== undefined) parts.push(field('H', fields.hint));
  if (fields.position !== undefined) parts.push(field('P', String(fields.position)));
  parts.push(TERMINATOR);
  return parts;
}

/** An ErrorResponse; `severity` (FATAL when the connection ends with it) overrides the fields' own. */
export function errorResponse(fields: ErrorFields, severity: Severity = fields.severity ?? 'ERROR'): Buffer {
  return typedMessage(ERROR_RESPONSE, ...fieldsBody(fields, severity));
}

export function noticeResponse(fields: ErrorFields): Buffer {
  return typedMessage(NOTICE_RESPONSE, ...fieldsBody(fields, fields.severity ?? 'NOTICE'));
}

/** The fields of an ErrorResponse or NoticeResponse body, by field code ('C' SQLSTATE, 'M' message, …). */
export function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    fields.set(code, body.subarray(offset + 1, end).toString('utf8'));
    offset = end + 1;
  }
  return fields;
}
