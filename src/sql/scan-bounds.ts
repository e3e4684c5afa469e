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
import { fieldsOf, stringsOf, walk, type Node, type NodeFields } from './parse-tree.js';
import type { ScanBounds } from '../store/scan-request.js';

type RangeVar = NodeFields<'RangeVar'>;
type Expr = NodeFields<'A_Expr'>;

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
  where: Node | undefined;
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
  if (fieldsOf(statement, 'PrepareStmt')) return true;
  const explain = fieldsOf(statement, 'ExplainStmt');
  if (explain) return !(explain.options ?? []).some(analyzes);
  const top = fieldsOf(statement, 'SelectStmt');
  if (top && isZero(top.limitCount)) return true;
  const occurrences = occurrencesOf(statement, table);
  return occurrences?.every((occurrence) => occurrence.empty) ?? false;
}

function analyzes(option: Node): boolean {
  const element = fieldsOf(option, 'DefElem');
  if (element?.defname !== 'analyze') return false;
  const value = fieldsOf(element.arg, 'String')?.sval;
  const off = typeof value === 'string' && ['false', 'off', '0', 'no'].includes(value.toLowerCase());
  const constant = fieldsOf(element.arg, 'Boolean');
  const falseConstant = constant !== undefined && constant.boolval !== true;
  return !off && !falseConstant;
}

/** `LIMIT 0` / `FETCH FIRST 0 ROWS ONLY` (the parser leaves a zero ival empty). */
function isZero(limit: Node | undefined): boolean {
  const ival = fieldsOf(limit, 'A_Const')?.ival;
  return ival !== undefined && (ival.ival === undefined || ival.ival === 0);
}

/**
 * Occurrences by statement tree and table: a statement's analysis is cached by its text, and every run of it
 * asks again (whether it reads rows, its bounds), so each tree is walked once per table.
 */
const occurrencesByTree = new WeakMap<Node, Map<string, readonly Occurrence[] | undefined>>();

/** The SELECTs whose FROM names the table, or undefined when it is also named where no bound can be read. */
function occurrencesOf(statement: Node, table: TableRef): readonly Occurrence[] | undefined {
  let known = occurrencesByTree.get(statement);
  if (!known) {
    known = new Map();
    occurrencesByTree.set(statement, known);
  }
  const key = `${table.schema === undefined ? '-' : `+${table.schema}`}\0${table.name}`;
  if (known.has(key)) return known.get(key);
  const occurrences = walkOccurrences(statement, table);
  known.set(key, occurrences);
  return occurrences;
}

function walkOccurrences(statement: Node, table: TableRef): Occurrence[] | undefined {
  let seen = 0;
  const occurrences: Occurrence[] = [];
  walk(statement, undefined, {
    // Every place the table is named: FROM items, and the bare target relations of DML, COPY and DDL.
    RangeVar: (rangeVar) => {
      if (matches(rangeVar, table)) seen += 1;
      return { skip: true };
    },
    // Every SELECT with a FROM, set operations' bare arms too.
    SelectStmt: (select) => {
      if (select.fromClause === undefined) return undefined;
      const items: RangeVar[] = [];
      for (const item of select.fromClause) fromItems(item, items);
      const relationCount = items.length;
      const truth = constantTruth(select.whereClause);
      for (const rangeVar of items) {
        if (!matches(rangeVar, table)) continue;
        const alias = rangeVar.alias?.aliasname;
        occurrences.push({
          qualifiers: new Set(alias ? [alias] : [String(rangeVar.relname)]),
          soleRelation: relationCount === 1,
          where: select.whereClause,
          empty: isZero(select.limitCount) || truth === false || truth === null,
        });
      }
      return undefined;
    },
  });
  return seen === 0 || occurrences.length !== seen ? undefined : occurrences;
}

type Constant = string | number | boolean | null;

/** The value of a constant (A_Const); undefined when the node is not one. */
function constantValue(node: Node | undefined): Constant | undefined {
  const constant = fieldsOf(node, 'A_Const');
  if (!constant) return undefined;
  if (constant.isnull === true) return null;
  if (constant.boolval) return constant.boolval.boolval ?? false;
  if (constant.ival) return constant.ival.ival ?? 0;
  if (constant.sval) return constant.sval.sval ?? '';
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
function constantTruth(node: Node | undefined): boolean | null | undefined {
  if (node === undefined) return undefined;
  const value = constantValue(node);
  if (value !== undefined) return value === null || typeof value === 'boolean' ? value : undefined;
  const bool = fieldsOf(node, 'BoolExpr');
  if (bool) {
    const args = (bool.args ?? []).map(constantTruth);
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
  const expr = fieldsOf(node, 'A_Expr');
  if (expr?.kind !== 'AEXPR_OP') return undefined;
  const op = operatorName(expr) ?? '';
  const compare = COMPARISONS[op];
  const left = constantValue(expr.lexpr);
  const right = constantValue(expr.rexpr);
  if (!compare || left === undefined || right === undefined) return undefined;
  if (left === null || right === null) return null;
  if (typeof left === 'boolean' || typeof right === 'boolean') return undefined;
  if (typeof left === 'number' && typeof right === 'number') return compare(left, right);
  if (typeof left === 'string' && typeof right === 'string' && ['=', '<>', '!='].includes(op)) return compare(left, right);
  return undefined;
}

function matches(rangeVar: RangeVar, table: TableRef): boolean {
  if (rangeVar.relname !== table.name) return false;
  return rangeVar.schemaname === undefined || table.schema === undefined || rangeVar.schemaname === table.schema;
}

/** The RangeVars of one FROM item, through joins (not into subqueries, which are SELECTs of their own). */
function fromItems(item: Node | undefined, out: RangeVar[]): void {
  const rangeVar = fieldsOf(item, 'RangeVar');
  const join = fieldsOf(item, 'JoinExpr');
  if (rangeVar) out.push(rangeVar);
  else if (join) {
    fromItems(join.larg, out);
    fromItems(join.rarg, out);
  } else if (fieldsOf(item, 'RangeSubselect') || fieldsOf(item, 'RangeFunction')) {
    // Counted as a relation, so unqualified columns are not assumed to be the stream table's.
    out.push({ relname: '\u0000subquery' });
  }
}

function conjuncts(where: Node | undefined): Node[] {
  if (!where) return [];
  const bool = fieldsOf(where, 'BoolExpr');
  if (bool) return bool.boolop === 'AND_EXPR' ? (bool.args ?? []).flatMap(conjuncts) : [];
  return [where];
}

/** The internal column a ColumnRef names for this occurrence, if it names one of this table. */
function columnOf(node: Node | undefined, occurrence: Occurrence): string | undefined {
  const ref = fieldsOf(node, 'ColumnRef');
  if (!ref) return undefined;
  const names = stringsOf(ref.fields);
  if (!names.every((n): n is string => n !== undefined)) return undefined;
  const [first, second] = names;
  if (names.length === 1) return occurrence.soleRelation ? first : undefined;
  if (names.length === 2 && first !== undefined && occurrence.qualifiers.has(first)) return second;
  return undefined;
}

function stringConstant(node: Node | undefined): string | undefined {
  return fieldsOf(node, 'A_Const')?.sval?.sval;
}

function operatorName(expr: Expr): string | undefined {
  const names = stringsOf(expr.name);
  return names.length === 1 ? names[0] : undefined;
}

/** The last part of a possibly qualified name (`pg_catalog.now` → `now`). */
function lastName(list: readonly Node[] | undefined): string | undefined {
  return stringsOf(list).at(-1);
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
    const expr = fieldsOf(term, 'A_Expr');
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
      if (kind === 'AEXPR_BETWEEN') at = timeValue(fieldsOf(operand, 'List')?.items?.[0], statementStart);
      if (at && (!result.fromTime || at > result.fromTime)) result.fromTime = at;
    } else if (column === '_shard_id' || column === '_partition_key') {
      let values: string[] | undefined;
      if (kind === 'AEXPR_OP' && op === '=') {
        const value = stringConstant(operand);
        values = value === undefined ? undefined : [value];
      } else if (kind === 'AEXPR_IN' && operatorName(expr) === '=') {
        const items = (fieldsOf(operand, 'List')?.items ?? []).map(stringConstant);
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
function timeValue(node: Node | undefined, statementStart: Date): Date | undefined {
  const text = stringConstant(node);
  if (text !== undefined) return timestampLiteral(text);
  const cast = fieldsOf(node, 'TypeCast');
  if (cast) {
    const typeName = lastName(cast.typeName?.names);
    if (typeName === undefined || !TIME_TYPES.has(typeName)) return undefined;
    return timeValue(cast.arg, statementStart);
  }
  const call = fieldsOf(node, 'FuncCall');
  if (call) {
    const name = lastName(call.funcname);
    // now() is the transaction's start: the statement's start outside an explicit transaction (the
    // executor passes the transaction's start when it knows one).
    if (name !== undefined && NOW_FUNCTIONS.has(name) && (call.args ?? []).length === 0) return statementStart;
    return undefined;
  }
  const sqlValue = fieldsOf(node, 'SQLValueFunction');
  if (sqlValue) return sqlValue.op !== undefined && NOW_SQL_VALUES.has(sqlValue.op) ? statementStart : undefined;
  const expr = fieldsOf(node, 'A_Expr');
  if (expr) {
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
function intervalValue(node: Node | undefined): number | undefined {
  const cast = fieldsOf(node, 'TypeCast');
  if (!cast) return undefined;
  if (lastName(cast.typeName?.names) !== 'interval' || cast.typeName?.typmods !== undefined) return undefined;
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
