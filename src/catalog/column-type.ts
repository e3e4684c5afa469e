/**
 * Column types of a table definition. Definitions use Presto/Trino type names (as the Trino connector did)
 * or PostgreSQL names; both resolve to one PostgreSQL type, which is what the engine's table gets and what
 * decoders must produce text input for.
 */
export type ColumnKind =
  | 'smallint'
  | 'integer'
  | 'bigint'
  | 'real'
  | 'double'
  | 'numeric'
  | 'boolean'
  | 'text'
  | 'varchar'
  | 'char'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'bytea'
  | 'jsonb'
  | 'json'
  | 'uuid';

export interface ColumnType {
  kind: ColumnKind;
  /** varchar(n) / char(n) length */
  length?: number;
  /** numeric(p,s) */
  precision?: number;
  scale?: number;
  /** The PostgreSQL type as written in DDL, e.g. `character varying(20)`, `numeric(10,2)`. */
  sql: string;
}

export class ColumnTypeError extends Error {}

const SIMPLE: Record<string, ColumnKind> = {
  tinyint: 'smallint',
  smallint: 'smallint',
  int2: 'smallint',
  integer: 'integer',
  int: 'integer',
  int4: 'integer',
  bigint: 'bigint',
  int8: 'bigint',
  real: 'real',
  float4: 'real',
  float: 'double',
  double: 'double',
  'double precision': 'double',
  float8: 'double',
  decimal: 'numeric',
  numeric: 'numeric',
  boolean: 'boolean',
  bool: 'boolean',
  varchar: 'varchar',
  'character varying': 'varchar',
  char: 'char',
  character: 'char',
  text: 'text',
  string: 'text',
  date: 'date',
  time: 'time',
  'time without time zone': 'time',
  timestamp: 'timestamp',
  'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamptz',
  timestamptz: 'timestamptz',
  varbinary: 'bytea',
  bytea: 'bytea',
  json: 'jsonb',
  jsonb: 'jsonb',
  uuid: 'uuid',
};

const SQL_NAME: Record<ColumnKind, string> = {
  smallint: 'smallint',
  integer: 'integer',
  bigint: 'bigint',
  real: 'real',
  double: 'double precision',
  numeric: 'numeric',
  boolean: 'boolean',
  text: 'text',
  varchar: 'character varying',
  char: 'character',
  date: 'date',
  time: 'time without time zone',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  bytea: 'bytea',
  jsonb: 'jsonb',
  json: 'json',
  uuid: 'uuid',
};

/**
 * Parses a definition's `type` string (case-insensitive, extra spaces allowed), e.g. `VARCHAR(20)`,
 * `DECIMAL(10, 2)`, `TIMESTAMP WITH TIME ZONE`, `double precision`. Throws ColumnTypeError naming what
 * was expected.
 */
export function parseColumnType(written: string): ColumnType {
  const normalized = written.trim().toLowerCase().replace(/\s+/g, ' ');
  const match = /^([a-z][a-z0-9 ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(normalized);
  const base = match?.[1];
  const kind = base === undefined ? undefined : SIMPLE[base];
  if (!match || kind === undefined) {
    throw new ColumnTypeError(
      `unknown column type "${written}"; expected a Presto/Trino or PostgreSQL type such as BIGINT, INTEGER, ` +
        `SMALLINT, TINYINT, DOUBLE, REAL, BOOLEAN, VARCHAR, VARCHAR(n), DATE, TIME, TIMESTAMP, ` +
        `TIMESTAMP WITH TIME ZONE, DECIMAL(p,s), VARBINARY, JSON`,
    );
  }
  const first = match[2] === undefined ? undefined : Number(match[2]);
  const second = match[3] === undefined ? undefined : Number(match[3]);
  if (kind === 'varchar' || kind === 'char') {
    if (second !== undefined) throw new ColumnTypeError(`type "${written}" takes one length, not two`);
    if (first === undefined)
      return { kind: kind === 'char' ? 'char' : 'text', ...(kind === 'char' ? { length: 1 } : {}), sql: kind === 'char' ? 'character(1)' : 'text' };
    if (first < 1 || first > 10485760) throw new ColumnTypeError(`length of "${written}" must be between 1 and 10485760`);
    return { kind, length: first, sql: `${SQL_NAME[kind]}(${first})` };
  }
  if (kind === 'numeric') {
    if (first === undefined) return { kind, sql: 'numeric' };
    const scale = second ?? 0;
    if (first < 1 || first > 1000) throw new ColumnTypeError(`precision of "${written}" must be between 1 and 1000`);
    if (scale > first) throw new ColumnTypeError(`scale of "${written}" must not exceed its precision`);
    return { kind, precision: first, scale, sql: `numeric(${first},${scale})` };
  }
  if (first !== undefined) {
    // TIMESTAMP(3) and TIME(3) carry a precision in Trino; PostgreSQL accepts 0..6.
    if ((kind === 'timestamp' || kind === 'timestamptz' || kind === 'time') && second === undefined && first <= 6) {
      return { kind, precision: first, sql: SQL_NAME[kind].replace(/^(timestamp|time)/, `$1(${first})`) };
    }
    throw new ColumnTypeError(`type "${written}" takes no length or precision`);
  }
  return { kind, sql: SQL_NAME[kind] };
}
