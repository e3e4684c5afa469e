/**
 * Finds the bounds a statement puts on a stream table's internal columns (README, "What a query sees"), so that the
 * store reads only what the statement can see: `_message_timestamp >= / > / = / BETWEEN` (the oldest
 * record needed), `_shard_id = / IN`, `_partition_key = / IN`, `_shard_sequence_id > / >= / =`.
 *
 * Only conditions that must hold for every row of the table the statement uses are taken: top-level
 * AND terms of the WHERE of the SELECT whose FROM names the table. When the table appears several times,
 * the bounds of all appearances are merged (the loosest wins); an appearance without a bound, or one
 * outside a SELECT's FROM, means no bound. What cannot be evaluated here (parameters, functions of
 * columns, time zones) gives no bound, never a wrong one: a bound may only load more than needed.
 */
import type { Node } from 'libpg-query';
import type { ScanBounds } from '../store/scan-request.js';

type Fields = Record<string, unknown>;

export interface TableRef {
  /** Absent: the name as a statement wrote it without a schema, matching the name in any schema. */
  schema?: string;
  name: string;
}

/** PostgreSQL accepts time zone offsets up to ±15:59; a literal without one is read that far early. */
const UNKNOWN_ZONE_MARGIN_MS = 16 * 3_600_000;

interface Occurrence {
  /** Names the table's columns may be qualified with (alias, or table name). */
  qualifiers: Set<string>;
  /** Unqualified column names may mean this table (it is the only relation of its FROM). */
  soleRelation: boolean;
  where: unknown;
  /** Its SELECT returns no row whatever the table holds (WHERE constant false or NULL, LIMIT 0). */
  empty: boolean;
}

export function scanBoundsFor(statement: Node, table: TableRef, statementStart: Date): ScanBounds | undefined {
  const occurrences = occurrencesOf(statement, table);
  if (!occurrences) return undefined;
  const each = occurrences.map((occurrence) => boundsOf(occurrence, statementStart));
  return mergeLoosest(each);
}

/**
 * Whether the statement can show nothing that depends on the table's rows, so it needs no catch-up of it:
 * EXPLAIN without ANALYZE, PREPARE (its EXECUTEs read), a top-level `LIMIT 0`, or every place it names the
 * table is a SELECT whose WHERE is constant false or NULL or whose LIMIT is 0 (Metabase's and Tableau's
 * column probes, `… WHERE 1 <> 1 LIMIT 0`). Anything it cannot be sure of counts as a read.
 */
export function readsNoRows(statement: Node, table: TableRef): boolean {
  const fields = statement as Fields;
  if (fields.PrepareStmt) return true;
  const explain = fields.ExplainStmt as Fields | undefined;
  if (explain) return !asArray(explain.options).some(analyzes);
  const top = fields.SelectStmt as Fields | undefined;
  if (top && isZero(top.limitCount)) return true;
  const occurrences = occurrencesOf(statement, table);
  return occurrences?.every((occurrence) => occurrence.empty) ?? false;
}

function analyzes(option: unknown): boolean {
  const element = (option as Fields).DefElem as Fields | undefined;
  if (element?.defname !== 'analyze') return false;
  const value = ((element.arg as Fields | undefined)?.String as Fields | undefined)?.sval;
  const off = typeof value === 'string' && ['false', 'off', '0', 'no'].includes(value.toLowerCase());
  const falseConstant = (element.arg as Fields | undefined)?.Boolean !== undefined && ((element.arg as Fields).Boolean as Fields).boolval !== true;
  return !off && !falseConstant;
}

/** `LIMIT 0` / `FETCH FIRST 0 ROWS ONLY` (the parser leaves a zero ival empty). */
function isZero(limit: unknown): boolean {
  const constant = (limit as Fields | undefined)?.A_Const as Fields | undefined;
  const ival = constant?.ival as Fields | undefined;
  return ival !== undefined && (ival.ival === undefined || ival.ival === 0);
}

/** The SELECTs whose FROM names the table, or undefined when it is also named where no bound can be read. */
function occurrencesOf(statement: Node, table: TableRef): Occurrence[] | undefined {
  let seen = 0;
  const occurrences: Occurrence[] = [];
  countRangeVars(statement, table, () => (seen += 1));
  collectSelects(statement, (select) => {
    const items: Fields[] = [];
    for (const item of asArray(select.fromClause)) fromItems(item, items);
    const relationCount = items.length;
    for (const rangeVar of items) {
      if (!matches(rangeVar, table)) continue;
      const alias = ((rangeVar.alias as Fields | undefined)?.aliasname as string | undefined) ?? undefined;
      occurrences.push({
        qualifiers: new Set(alias ? [alias] : [String(rangeVar.relname)]),
        soleRelation: relationCount === 1,
        where: select.whereClause,
        empty: isZero(select.limitCount) || [false, null].includes(constantTruth(select.whereClause) as boolean | null),
      });
    }
  });
  return seen === 0 || occurrences.length !== seen ? undefined : occurrences;
}

type Constant = string | number | boolean | null;

/** The value of a constant (A_Const); undefined when the node is not one. */
function constantValue(node: unknown): Constant | undefined {
  const constant = (node as Fields | undefined)?.A_Const as Fields | undefined;
  if (!constant) return undefined;
  if (constant.isnull === true) return null;
  if (constant.boolval) return ((constant.boolval as Fields).boolval as boolean | undefined) ?? false;
  if (constant.ival) return ((constant.ival as Fields).ival as number | undefined) ?? 0;
  if (constant.sval) return ((constant.sval as Fields).sval as string | undefined) ?? '';
  return undefined;
}

const COMPARISONS: Record<string, (a: number | string, b: number | string) => boolean> = {
  '=': (a, b) => a === b,
  '<>': (a, b) => a !== b,
  '!=': (a, b) => a !== b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/**
 * What a WHERE built of constants alone evaluates to: true, false, or null (no row passes a NULL either);
 * undefined when it depends on anything else. Integers compare with integers; strings only for equality
 * (their order depends on the collation).
 */
function constantTruth(node: unknown): boolean | null | undefined {
  if (node === undefined) return undefined;
  const value = constantValue(node);
  if (value !== undefined) return value === null || typeof value === 'boolean' ? value : undefined;
  const fields = node as Fields;
  const bool = fields.BoolExpr as Fields | undefined;
  if (bool) {
    const args = asArray(bool.args).map(constantTruth);
    if (bool.boolop === 'NOT_EXPR') return args[0] === undefined || args[0] === null ? args[0] : !args[0];
    if (bool.boolop === 'AND_EXPR') {
      if (args.includes(false)) return false;
      return args.includes(undefined) ? undefined : args.includes(null) ? null : true;
    }
    if (bool.boolop === 'OR_EXPR') {
      if (args.includes(true)) return true;
      return args.includes(undefined) ? undefined : args.includes(null) ? null : false;
    }
    return undefined;
  }
  const expr = fields.A_Expr as Fields | undefined;
  if (expr?.kind !== 'AEXPR_OP') return undefined;
  const compare = COMPARISONS[operatorName(expr) ?? ''];
  const left = constantValue(expr.lexpr);
  const right = constantValue(expr.rexpr);
  if (!compare || left === undefined || right === undefined) return undefined;
  if (left === null || right === null) return null;
  if (typeof left !== typeof right || typeof left === 'boolean') return undefined;
  if (typeof left === 'string' && !['=', '<>', '!='].includes(operatorName(expr)!)) return undefined;
  return compare(left as number | string, right as number | string);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function matches(rangeVar: Fields, table: TableRef): boolean {
  if (rangeVar.relname !== table.name) return false;
  return rangeVar.schemaname === undefined || table.schema === undefined || rangeVar.schemaname === table.schema;
}

function countRangeVars(value: unknown, table: TableRef, found: () => void): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) countRangeVars(item, table, found);
    return;
  }
  for (const [key, child] of Object.entries(value as Fields)) {
    if (child !== null && typeof child === 'object' && !Array.isArray(child) && typeof (child as Fields).relname === 'string') {
      if ((key === 'RangeVar' || key === 'relation' || key === 'rel') && matches(child as Fields, table)) found();
    }
    countRangeVars(child, table, found);
  }
}

/** Calls visit for every SelectStmt with a FROM clause, at any depth. */
function collectSelects(value: unknown, visit: (select: Fields) => void): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collectSelects(item, visit);
    return;
  }
  for (const [key, child] of Object.entries(value as Fields)) {
    // Set operations hold their arms as bare SelectStmt bodies in larg / rarg.
    const isSelect = key === 'SelectStmt' || key === 'larg' || key === 'rarg';
    if (isSelect && child && typeof child === 'object' && Array.isArray((child as Fields).fromClause)) visit(child as Fields);
    collectSelects(child, visit);
  }
}

/** The RangeVars of one FROM item, through joins (not into subqueries, which are SELECTs of their own). */
function fromItems(item: unknown, out: Fields[]): void {
  const fields = item as Fields;
  if (fields.RangeVar) out.push(fields.RangeVar as Fields);
  else if (fields.JoinExpr) {
    const join = fields.JoinExpr as Fields;
    fromItems(join.larg, out);
    fromItems(join.rarg, out);
  } else if (fields.RangeSubselect || fields.RangeFunction) {
    // Counted as a relation, so unqualified columns are not assumed to be the stream table's.
    out.push({ relname: '\u0000subquery' });
  }
}

function conjuncts(where: unknown): unknown[] {
  const fields = where as Fields | undefined;
  if (!fields) return [];
  const bool = fields.BoolExpr as Fields | undefined;
  if (bool) return bool.boolop === 'AND_EXPR' ? asArray(bool.args).flatMap(conjuncts) : [];
  return [where];
}

/** The internal column a ColumnRef names for this occurrence, if it names one of this table. */
function columnOf(node: unknown, occurrence: Occurrence): string | undefined {
  const ref = (node as Fields | undefined)?.ColumnRef as Fields | undefined;
  if (!ref) return undefined;
  const names = asArray(ref.fields).map((f) => ((f as Fields).String as Fields | undefined)?.sval);
  if (names.some((n) => typeof n !== 'string')) return undefined;
  if (names.length === 1) return occurrence.soleRelation ? (names[0] as string) : undefined;
  if (names.length === 2 && occurrence.qualifiers.has(names[0] as string)) return names[1] as string;
  return undefined;
}

function stringConstant(node: unknown): string | undefined {
  const fields = node as Fields | undefined;
  const constant = fields?.A_Const as Fields | undefined;
  const sval = (constant?.sval as Fields | undefined)?.sval;
  return typeof sval === 'string' ? sval : undefined;
}

function operatorName(expr: Fields): string | undefined {
  const names = asArray(expr.name).map((n) => ((n as Fields).String as Fields | undefined)?.sval);
  return names.length === 1 && typeof names[0] === 'string' ? names[0] : undefined;
}

interface Partial {
  fromTime?: Date;
  shardIds?: Set<string>;
  partitionKeys?: Set<string>;
  fromSequence?: { sequenceNumber: string; inclusive: boolean };
}

function intersect(current: Set<string> | undefined, values: string[]): Set<string> {
  const next = new Set(values);
  return current ? new Set([...current].filter((v) => next.has(v))) : next;
}

function boundsOf(occurrence: Occurrence, statementStart: Date): Partial {
  const result: Partial = {};
  for (const term of conjuncts(occurrence.where)) {
    const expr = (term as Fields).A_Expr as Fields | undefined;
    if (!expr) continue;
    const kind = expr.kind;
    let column = columnOf(expr.lexpr, occurrence);
    let operand = expr.rexpr;
    let op = operatorName(expr);
    if (column === undefined && kind === 'AEXPR_OP') {
      // `value <= column` reads as `column >= value`.
      column = columnOf(expr.rexpr, occurrence);
      operand = expr.lexpr;
      op = op === '<' ? '>' : op === '<=' ? '>=' : op === '=' ? '=' : undefined;
    }
    if (column === undefined) continue;
    if (column === '_message_timestamp') {
      let at: Date | undefined;
      if (kind === 'AEXPR_OP' && (op === '>=' || op === '>' || op === '=')) at = timeValue(operand, statementStart);
      if (kind === 'AEXPR_BETWEEN')
        at = timeValue(asArray((operand as Fields | undefined)?.List && ((operand as Fields).List as Fields).items)[0], statementStart);
      if (at && (!result.fromTime || at > result.fromTime)) result.fromTime = at;
    } else if (column === '_shard_id' || column === '_partition_key') {
      let values: string[] | undefined;
      if (kind === 'AEXPR_OP' && op === '=') {
        const value = stringConstant(operand);
        values = value === undefined ? undefined : [value];
      } else if (kind === 'AEXPR_IN' && operatorName(expr) === '=') {
        const items = asArray(((operand as Fields | undefined)?.List as Fields | undefined)?.items).map(stringConstant);
        values = items.every((v): v is string => v !== undefined) ? items : undefined;
      }
      if (values) {
        if (column === '_shard_id') result.shardIds = intersect(result.shardIds, values);
        else result.partitionKeys = intersect(result.partitionKeys, values);
      }
    } else if (column === '_shard_sequence_id' && kind === 'AEXPR_OP' && (op === '>' || op === '>=' || op === '=')) {
      const value = stringConstant(operand);
      // The column is text: only sequence-number-shaped literals compare as their numbers do.
      if (value !== undefined && /^[1-9]\d{19,}$/.test(value)) {
        const candidate = { sequenceNumber: value, inclusive: op !== '>' };
        const current = result.fromSequence;
        if (!current || BigInt(value) > BigInt(current.sequenceNumber)) result.fromSequence = candidate;
      }
    }
  }
  return result;
}

function mergeLoosest(all: Partial[]): ScanBounds | undefined {
  const bounds: ScanBounds = {};
  if (all.every((b) => b.fromTime)) bounds.fromTime = new Date(Math.min(...all.map((b) => b.fromTime!.getTime())));
  if (all.every((b) => b.shardIds)) bounds.shardIds = [...new Set(all.flatMap((b) => [...b.shardIds!]))];
  if (all.every((b) => b.partitionKeys)) bounds.partitionKeys = [...new Set(all.flatMap((b) => [...b.partitionKeys!]))];
  if (all.every((b) => b.fromSequence)) {
    bounds.fromSequence = all
      .map((b) => b.fromSequence!)
      .reduce((a, b) => (BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) || (a.sequenceNumber === b.sequenceNumber && a.inclusive) ? a : b));
  }
  return Object.keys(bounds).length === 0 ? undefined : bounds;
}

const NOW_FUNCTIONS = new Set(['now', 'statement_timestamp', 'transaction_timestamp', 'clock_timestamp']);
const NOW_SQL_VALUES = new Set(['SVFOP_CURRENT_TIMESTAMP', 'SVFOP_CURRENT_TIMESTAMP_N', 'SVFOP_LOCALTIMESTAMP', 'SVFOP_LOCALTIMESTAMP_N']);
const TIME_TYPES = new Set(['timestamptz', 'timestamp', 'date', 'text', 'varchar']);

/** The earliest instant an expression can denote, or undefined when it cannot be worked out here. */
function timeValue(node: unknown, statementStart: Date): Date | undefined {
  const fields = node as Fields | undefined;
  if (!fields) return undefined;
  const text = stringConstant(node);
  if (text !== undefined) return timestampLiteral(text);
  if (fields.TypeCast) {
    const cast = fields.TypeCast as Fields;
    const typeNames = asArray((cast.typeName as Fields | undefined)?.names).map((n) => ((n as Fields).String as Fields | undefined)?.sval);
    const typeName = typeNames.at(-1);
    if (typeof typeName !== 'string' || !TIME_TYPES.has(typeName)) return undefined;
    return timeValue(cast.arg, statementStart);
  }
  if (fields.FuncCall) {
    const call = fields.FuncCall as Fields;
    const name = asArray(call.funcname)
      .map((n) => ((n as Fields).String as Fields | undefined)?.sval)
      .at(-1);
    // now() is the transaction's start: the statement's start outside an explicit transaction (the
    // executor passes the transaction's start when it knows one).
    if (typeof name === 'string' && NOW_FUNCTIONS.has(name) && asArray(call.args).length === 0) return statementStart;
    return undefined;
  }
  if (fields.SQLValueFunction) {
    const op = (fields.SQLValueFunction as Fields).op;
    return typeof op === 'string' && NOW_SQL_VALUES.has(op) ? statementStart : undefined;
  }
  if (fields.A_Expr) {
    const expr = fields.A_Expr as Fields;
    const op = operatorName(expr);
    if (expr.kind !== 'AEXPR_OP' || (op !== '-' && op !== '+')) return undefined;
    const base = timeValue(expr.lexpr, statementStart);
    const interval = intervalValue(expr.rexpr);
    if (!base || interval === undefined) return undefined;
    return new Date(base.getTime() + (op === '-' ? -interval : interval));
  }
  return undefined;
}

const UNIT_MS: Record<string, number> = {
  millisecond: 1,
  milliseconds: 1,
  ms: 1,
  msec: 1,
  msecs: 1,
  second: 1000,
  seconds: 1000,
  sec: 1000,
  secs: 1000,
  s: 1000,
  minute: 60_000,
  minutes: 60_000,
  min: 60_000,
  mins: 60_000,
  m: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  h: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
  d: 86_400_000,
  week: 7 * 86_400_000,
  weeks: 7 * 86_400_000,
  w: 7 * 86_400_000,
};

/** An interval literal of fixed-length units (`'5 minutes'`, `'1 hour 30 min'`, `'00:05:00'`) in ms. */
function intervalValue(node: unknown): number | undefined {
  const cast = (node as Fields | undefined)?.TypeCast as Fields | undefined;
  if (!cast) return undefined;
  const typeName = asArray((cast.typeName as Fields | undefined)?.names)
    .map((n) => ((n as Fields).String as Fields | undefined)?.sval)
    .at(-1);
  if (typeName !== 'interval' || (cast.typeName as Fields).typmods !== undefined) return undefined;
  const text = stringConstant(cast.arg)?.trim().toLowerCase();
  if (text === undefined || text === '') return undefined;
  const clock = /^(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?$/.exec(text);
  if (clock) return (Number(clock[1]) * 3600 + Number(clock[2]) * 60 + Number(clock[3] ?? 0)) * 1000;
  let total = 0;
  let rest = text;
  const part = /^\s*([+-]?\d+(?:\.\d+)?)\s*([a-z]+)\s*/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) return undefined;
    const unit = UNIT_MS[match[2]!];
    if (unit === undefined) return undefined;
    total += Number(match[1]) * unit;
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** A timestamp literal; one without an explicit zone is taken at its earliest possible instant. */
function timestampLiteral(text: string): Date | undefined {
  const trimmed = text.trim();
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(z|utc|[+-]\d{2}(?::?\d{2})?)?$/i.exec(trimmed);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), Math.floor(Number(frac ?? 0) * 1000));
  if (Number.isNaN(utc)) return undefined;
  if (zone === undefined) return new Date(utc - UNKNOWN_ZONE_MARGIN_MS);
  if (/^(z|utc)$/i.test(zone)) return new Date(utc);
  const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  const offset = (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60_000 * (zm[1] === '-' ? -1 : 1);
  return new Date(utc - offset);
}
