/**
 * What a statement string does to the session's settings and transaction state, in order, as plain data:
 * SET / SET LOCAL / RESET / RESET ALL / DISCARD ALL, set_config() calls, and the transaction statements that
 * end or undo them (COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO). The session replays them to know its
 * settings without asking its backend; where the effect cannot be known from the text (a set_config whose
 * value is not a constant, or that may run any number of times), the change says so.
 */
import type { ParsedStatement } from './parse.js';
import { entryOf, fieldsOf, type Node, type NodeFields, stringsOf, walk } from './parse-tree.js';

export type SettingChange =
  /** SET name = value (`local`: SET LOCAL, or set_config(…, true)); value as SHOW would print it, spelling aside. */
  | { kind: 'set'; name: string; value: string; local: boolean }
  /** RESET name, SET name TO DEFAULT: back to the value the session started with. */
  | { kind: 'reset'; name: string; local: boolean }
  /** RESET ALL, DISCARD ALL. */
  | { kind: 'reset-all' }
  /** The setting may have changed to a value the text does not tell. */
  | { kind: 'unknown'; name: string }
  | { kind: 'begin' }
  | { kind: 'commit'; chain: boolean }
  | { kind: 'rollback'; chain: boolean }
  | { kind: 'savepoint'; name: string }
  | { kind: 'release'; name: string }
  | { kind: 'rollback-to'; name: string };

/** Settings whose list items PostgreSQL writes as identifiers (GUC_LIST_QUOTE) when SET gives them as strings. */
const LIST_QUOTED = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'shared_preload_libraries', 'local_preload_libraries']);

/** The changes of each statement, in order. */
export function settingChangesOf(statements: readonly ParsedStatement[]): SettingChange[] {
  return statements.flatMap((statement) => changesOfStatement(statement.node));
}

function changesOfStatement(node: Node): SettingChange[] {
  const { kind, fields } = entryOf(node);
  switch (kind) {
    case 'VariableSetStmt':
      return changesOfSet(fields);
    case 'DiscardStmt':
      return fields.target === undefined || fields.target === 'DISCARD_ALL' ? [{ kind: 'reset-all' }] : [];
    case 'TransactionStmt':
      return changesOfTransaction(fields);
    default:
      return setConfigCalls(node);
  }
}

function changesOfSet(f: NodeFields<'VariableSetStmt'>): SettingChange[] {
  const name = f.name?.toLowerCase() ?? '';
  const local = f.is_local === true;
  switch (f.kind) {
    case 'VAR_RESET_ALL':
      return [{ kind: 'reset-all' }];
    case 'VAR_RESET':
    case 'VAR_SET_DEFAULT':
      return [{ kind: 'reset', name, local }];
    case 'VAR_SET_VALUE': {
      const items = (f.args ?? []).map((arg) => constantText(arg));
      if (items.some((item) => item === undefined)) return [{ kind: 'unknown', name }];
      const quoted = LIST_QUOTED.has(name) ? items.map((item) => identifierText(item!)) : items;
      return [{ kind: 'set', name, value: quoted.join(', '), local }];
    }
    case 'VAR_SET_MULTI':
      // SET TRANSACTION / SET SESSION CHARACTERISTICS: transaction modes, not settings kinesql reads.
      return [];
    default:
      return name === '' ? [] : [{ kind: 'unknown', name }];
  }
}

function changesOfTransaction(f: NodeFields<'TransactionStmt'>): SettingChange[] {
  const chain = f.chain === true;
  const savepoint = f.savepoint_name ?? '';
  switch (f.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return [{ kind: 'begin' }];
    case 'TRANS_STMT_COMMIT':
      return [{ kind: 'commit', chain }];
    case 'TRANS_STMT_ROLLBACK':
      return [{ kind: 'rollback', chain }];
    case 'TRANS_STMT_SAVEPOINT':
      return [{ kind: 'savepoint', name: savepoint }];
    case 'TRANS_STMT_RELEASE':
      return [{ kind: 'release', name: savepoint }];
    case 'TRANS_STMT_ROLLBACK_TO':
      return [{ kind: 'rollback-to', name: savepoint }];
    default:
      return [];
  }
}

/**
 * set_config calls anywhere in a statement. Only `SELECT set_config(<constant>, <constant>, <constant>)` with no
 * FROM, WHERE or other clause runs the call exactly once with a value the text gives; any other call (in a
 * FROM query, a CASE, a subquery) changes its setting to something the text alone does not tell.
 */
function setConfigCalls(node: Node): SettingChange[] {
  const exact = exactSetConfig(node);
  if (exact) return [exact];
  // A name that is no constant (pg_dump's `set_config(name, …) FROM pg_settings WHERE name = …`): any setting.
  const changes: SettingChange[] = [];
  walk<undefined, never>(node, undefined, {
    FuncCall: (call) => {
      if (isSetConfig(call)) changes.push({ kind: 'unknown', name: constantText(call.args?.[0])?.toLowerCase() ?? '*' });
      return undefined;
    },
  });
  return changes;
}

function exactSetConfig(node: Node): SettingChange | undefined {
  const select = fieldsOf(node, 'SelectStmt');
  if (!select) return undefined;
  const clauses = Object.keys(select).filter((key) => !['targetList', 'limitOption', 'op'].includes(key));
  const targets = select.targetList ?? [];
  if (clauses.length > 0 || targets.length !== 1) return undefined;
  const call = fieldsOf(fieldsOf(targets[0], 'ResTarget')?.val, 'FuncCall');
  if (!call || !isSetConfig(call) || call.agg_star || call.over) return undefined;
  const args = call.args ?? [];
  const [name, value, isLocal] = args.map((arg) => constantText(arg));
  if (args.length !== 3 || name === undefined || value === undefined || isLocal === undefined) return undefined;
  const local = ['t', 'true', 'on', '1', 'yes'].includes(isLocal.toLowerCase());
  return { kind: 'set', name: name.toLowerCase(), value, local };
}

function isSetConfig(call: NodeFields<'FuncCall'>): boolean {
  const parts = stringsOf(call.funcname);
  const schema = parts.length === 2 ? String(parts[0]).toLowerCase() : 'pg_catalog';
  return schema === 'pg_catalog' && String(parts.at(-1)).toLowerCase() === 'set_config';
}

/** A constant's text as PostgreSQL's SET takes it; undefined for anything that is not a plain constant. */
function constantText(node: Node | undefined): string | undefined {
  const constant = fieldsOf(node, 'A_Const');
  if (!constant || constant.isnull) return undefined;
  if (constant.sval !== undefined) return constant.sval.sval ?? '';
  // The parse tree leaves out zero and false.
  if (constant.ival !== undefined) return String(constant.ival.ival ?? 0);
  if (constant.fval !== undefined) return String(constant.fval.fval);
  if (constant.boolval !== undefined) return constant.boolval.boolval === true ? 'true' : 'false';
  return undefined;
}

/** A list item written as PostgreSQL's quote_identifier would write it. */
function identifierText(item: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(item) ? item : `"${item.replace(/"/g, '""')}"`;
}
