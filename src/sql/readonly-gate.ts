/**
 * The read-only gate: decides, from the parse tree alone, whether a client statement may reach the
 * engine. kinesql serves Kinesis streams read-only, so everything that could write data, change the
 * schema or the server's state, or reach outside the data is refused before it runs.
 *
 * Refusals use two SQLSTATEs:
 * - 25006 read_only_sql_transaction, message `cannot execute <command>: kinesql is read-only`, for
 *   statements that write or change state (and SET of settings not on the allow-list);
 * - 42501 insufficient_privilege, message `permission denied for function <name>: kinesql is read-only`,
 *   for calls of denied functions wherever they appear in a statement, and `permission denied to set role
 *   "<name>"` (or session authorization) for SET ROLE and SET SESSION AUTHORIZATION, as PostgreSQL answers a
 *   role that is not allowed to. Going back to the login role (RESET ROLE, SET ROLE NONE, RESET SESSION
 *   AUTHORIZATION, SET SESSION AUTHORIZATION DEFAULT) is allowed: the engine backend is logged in as the
 *   client's own role, so these leave it where it is.
 */
import { commandTagOf } from './command-tag.js';
import { isDeniedFunction } from './denied-functions.js';
import { isParseFailure, parseStatements } from './parse.js';
import type { ParsedStatement } from './parse.js';
import { entryOf, fieldsOf, stringsOf, walk, type Node, type NodeFields, type Visitor } from './parse-tree.js';
import { resetRefusal, settingRefusal } from './session-settings.js';
import type { SettingValue } from './session-settings.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { ceilingOf, ceilingRefusal, type SettingCeiling } from '../config/setting-ceilings.js';

export interface GateContext {
  /** Setting names allowed in SET/RESET/set_config on top of kinesql's own list (case-insensitive). */
  readonly allowedSettings?: readonly string[];
  /** The operator's limits: a setting may be lowered, never raised past them (42501). */
  readonly ceilings?: readonly SettingCeiling[];
}

export interface Refusal {
  readonly allowed: false;
  readonly sqlstate: string;
  readonly message: string;
  /** What the client can do instead, when kinesql knows (an ErrorResponse hint). */
  readonly hint?: string;
}

export type Verdict = { readonly allowed: true } | Refusal;

const ALLOWED: Verdict = { allowed: true };

function readOnly(what: string, why?: string): Refusal {
  const message = `cannot execute ${what}: kinesql is read-only${why ? ` (${why})` : ''}`;
  return { allowed: false, sqlstate: SQLSTATE.readOnlySqlTransaction, message };
}

function deniedFunction(name: string, why?: string): Refusal {
  return {
    allowed: false,
    sqlstate: SQLSTATE.insufficientPrivilege,
    message: `permission denied for function ${name}: kinesql is read-only${why ? ` (${why})` : ''}`,
  };
}

export function checkStatement(stmt: ParsedStatement, ctx: GateContext = {}): Verdict {
  return checkNode(stmt.node, ctx);
}

export type StatementsVerdict =
  | { readonly allowed: true; readonly statements: ParsedStatement[] }
  | (Refusal & { readonly position?: number; readonly statementIndex?: number });

/**
 * Parses a (possibly multi-statement) string and checks every statement. The first refusal (or the
 * syntax error) is returned and nothing of the string may run. PostgreSQL itself would run the
 * statements of a simple-query string that come before a failing one; refusing the whole string before
 * running any of it is safer, since a refused statement means the client is trying something kinesql
 * does not do, and no partial effect (a SET, a BEGIN) is left behind.
 */
export function checkStatements(sql: string, ctx: GateContext = {}): StatementsVerdict {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) {
    const { message, sqlstate, position } = parsed.error;
    return { allowed: false, sqlstate, message, ...(position !== undefined ? { position } : {}) };
  }
  for (const [statementIndex, stmt] of parsed.entries()) {
    const verdict = checkStatement(stmt, ctx);
    if (!verdict.allowed) return { ...verdict, statementIndex };
  }
  return { allowed: true, statements: parsed };
}

/**
 * A statement is allowed only by a `case` below: a kind of statement the gate does not know (one a newer
 * parser makes) is refused as a write.
 */
function checkNode(node: Node | undefined, ctx: GateContext): Verdict {
  if (node === undefined) return readOnly('an unrecognised statement');
  const { kind, fields: f } = entryOf(node);
  switch (kind) {
    case 'SelectStmt':
      return checkQuery(node, ctx);

    case 'ExplainStmt':
    // EXPLAIN of a write is refused even without ANALYZE: it is a statement about a write.
    case 'DeclareCursorStmt':
    case 'PrepareStmt':
      return checkNode(f.query, ctx);

    case 'ExecuteStmt':
      // The prepared statement was checked at PREPARE; its parameters are expressions like any other.
      return checkQuery(f.params, ctx);

    case 'CopyStmt':
      return checkCopy(f, ctx);

    case 'VariableSetStmt':
      return checkSet(f, ctx);

    case 'TransactionStmt':
      return checkTransaction(f, commandTagOf(node));

    case 'VariableShowStmt':
    case 'FetchStmt':
    case 'ClosePortalStmt':
    case 'DeallocateStmt':
    case 'DiscardStmt':
    case 'UnlistenStmt':
      // Nothing can be listened to (LISTEN is refused), so UNLISTEN is a no-op; connection poolers send
      // `UNLISTEN *` when they reset a connection.
      return ALLOWED;

    case 'LockStmt':
      // ACCESS SHARE is the lock every SELECT takes (pg_dump takes it up front); every stronger mode blocks writers or readers.
      return f.mode === ACCESS_SHARE_LOCK ? ALLOWED : readOnly('LOCK TABLE', 'only IN ACCESS SHARE MODE');

    default:
      return readOnly(commandTagOf(node));
  }
}

function checkCopy(f: NodeFields<'CopyStmt'>, ctx: GateContext): Verdict {
  if (f.is_from) return readOnly('COPY FROM');
  if (f.is_program) return readOnly('COPY TO PROGRAM');
  if (typeof f.filename === 'string') return readOnly('COPY TO a server file');
  // COPY table TO STDOUT reads like SELECT * FROM table; COPY (query) TO STDOUT is the query.
  if (f.query !== undefined) return checkNode(f.query, ctx);
  return ALLOWED;
}

function checkTransaction(f: NodeFields<'TransactionStmt'>, tag: string): Verdict {
  switch (f.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return checkTransactionModes(f.options, tag);
    case 'TRANS_STMT_PREPARE':
    case 'TRANS_STMT_COMMIT_PREPARED':
    case 'TRANS_STMT_ROLLBACK_PREPARED':
      return readOnly(tag);
    default:
      return ALLOWED; // COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO (AND CHAIN too)
  }
}

/** BEGIN / START TRANSACTION / SET TRANSACTION modes: everything but READ WRITE. */
function checkTransactionModes(options: readonly Node[] | undefined, tag: string): Verdict {
  for (const option of options ?? []) {
    const def = fieldsOf(option, 'DefElem');
    if (def?.defname === 'transaction_read_only' && constantValue(def.arg) !== 1) {
      return readOnly(`${tag} READ WRITE`);
    }
  }
  return ALLOWED;
}

/** PostgreSQL's lock mode number of ACCESS SHARE in a LockStmt. */
const ACCESS_SHARE_LOCK = 1;

/**
 * pg_dump turns row security off to dump tables whole; kinesql's stream tables show each session its window
 * through row policies, so it must be dumped with them on.
 */
const ROW_SECURITY_HINT = 'kinesql serves its tables through row policies: run pg_dump with --enable-row-security';

function checkSet(f: NodeFields<'VariableSetStmt'>, ctx: GateContext): Verdict {
  const extra = ctx.allowedSettings ?? [];
  const name = f.name ?? '';
  const lowerName = name.toLowerCase();
  if (lowerName === 'role' || lowerName === 'session_authorization') return checkIdentityChange(f, lowerName);
  const setting = (reason: string | undefined, verb: string): Verdict => (reason === undefined ? ALLOWED : readOnly(`${verb} ${name}`, reason));

  switch (f.kind) {
    case 'VAR_RESET_ALL':
      return ALLOWED;
    case 'VAR_RESET':
      return setting(resetRefusal(name, extra), 'RESET');
    case 'VAR_SET_DEFAULT':
      return setting(resetRefusal(name, extra), 'SET');
    case 'VAR_SET_CURRENT':
      return withinCeiling(setting(settingRefusal(name, undefined, extra), 'SET'), name, undefined, ctx);
    case 'VAR_SET_MULTI':
      // SET TRANSACTION … / SET SESSION CHARACTERISTICS AS TRANSACTION …; SET TRANSACTION SNAPSHOT is not.
      if (name === 'TRANSACTION' || name === 'SESSION CHARACTERISTICS') return checkTransactionModes(f.args, `SET ${name}`);
      return readOnly(`SET ${name}`);
    case 'VAR_SET_VALUE': {
      const args = f.args ?? [];
      if (name.toLowerCase() === 'row_security' && String(constantValue(args[0])).toLowerCase() === 'off') {
        return { ...readOnly('SET row_security', 'parameter "row_security" can only be set to on'), hint: ROW_SECURITY_HINT };
      }
      // Only the first value matters for the settings with value rules; lists (search_path) are free.
      return withinCeiling(setting(settingRefusal(name, constantValue(args[0]), extra), 'SET'), name, constantValue(args[0]), ctx);
    }
    default:
      return readOnly(`SET ${name}`);
  }
}

/**
 * SET ROLE and SET SESSION AUTHORIZATION: back to the login role (RESET, DEFAULT, ROLE NONE) is allowed; any
 * other role is refused as PostgreSQL refuses a role that may not take it (42501), since a kinesql session
 * keeps the role it logged in as.
 */
function checkIdentityChange(f: NodeFields<'VariableSetStmt'>, name: 'role' | 'session_authorization'): Verdict {
  const args = f.args ?? [];
  if (f.kind === 'VAR_RESET' || f.kind === 'VAR_SET_DEFAULT') return ALLOWED;
  if (name === 'role' && f.kind === 'VAR_SET_VALUE' && args.length === 1 && constantValue(args[0]) === 'none') return ALLOWED;
  const target = f.kind === 'VAR_SET_VALUE' && args.length === 1 ? constantValue(args[0]) : undefined;
  const what = name === 'role' ? 'role' : 'session authorization';
  return {
    allowed: false,
    sqlstate: SQLSTATE.insufficientPrivilege,
    message: `permission denied to set ${what}${target === undefined ? '' : ` "${String(target)}"`}: kinesql is read-only (a session keeps the role it logged in as)`,
  };
}

/** An allowed setting's value checked against the operator's limit on it, if any. */
function withinCeiling(verdict: Verdict, name: string, value: SettingValue, ctx: GateContext): Verdict {
  const ceiling = verdict.allowed ? ceilingOf(ctx.ceilings ?? [], name) : undefined;
  const reason = ceiling ? ceilingRefusal(ceiling, value) : undefined;
  return reason === undefined ? verdict : { allowed: false, sqlstate: SQLSTATE.insufficientPrivilege, message: reason };
}

/**
 * Walks an expression or query tree: refuses DML anywhere (data-modifying CTEs), SELECT INTO, row
 * locking (FOR UPDATE/SHARE, which PostgreSQL refuses in read-only transactions too), and calls of
 * denied functions, inside nodes of every kind (known here or not). Returns the first refusal in tree order.
 */
function checkQuery(tree: Node | readonly Node[] | undefined, ctx: GateContext): Verdict {
  return walk(tree, undefined, queryChecks(ctx)) ?? ALLOWED;
}

function queryChecks(ctx: GateContext): Visitor<undefined, Refusal> {
  const refuse = (verdict: Verdict): { stop: Refusal } | undefined => (verdict.allowed ? undefined : { stop: verdict });
  return {
    InsertStmt: (f) => refuse(readOnly(commandTagOf({ InsertStmt: f }))),
    UpdateStmt: (f) => refuse(readOnly(commandTagOf({ UpdateStmt: f }))),
    DeleteStmt: (f) => refuse(readOnly(commandTagOf({ DeleteStmt: f }))),
    MergeStmt: (f) => refuse(readOnly(commandTagOf({ MergeStmt: f }))),
    // Also the arms of UNION / INTERSECT / EXCEPT, which hold their SELECTs bare.
    SelectStmt: (f) => {
      if (f.intoClause || (f.lockingClause?.length ?? 0) > 0) return refuse(readOnly(commandTagOf({ SelectStmt: f })));
      const byName = setConfigOfPgSettingsRow(f);
      if (byName) settingNamedByWhere.set(byName.call, byName.name);
      return undefined;
    },
    FuncCall: (f) => refuse(checkFunctionCall(f, ctx)),
  };
}

function checkFunctionCall(f: NodeFields<'FuncCall'>, ctx: GateContext): Verdict {
  const nameParts = stringsOf(f.funcname).map((part) => part ?? '');
  const name = nameParts[nameParts.length - 1] ?? '';
  const args = f.args ?? [];
  if (isDeniedFunction(name, args.length)) return deniedFunction(nameParts.join('.'));
  if (name.toLowerCase() === 'set_config') return checkSetConfig(args, ctx, nameParts.join('.'), settingNamedByWhere.get(f));
  return ALLOWED;
}

/**
 * set_config calls whose setting name is the `name` column of the one pg_settings row the query's WHERE
 * picks by a constant: pg_dump sets settings this way (so older servers without the setting are skipped).
 */
const settingNamedByWhere = new WeakMap<NodeFields<'FuncCall'>, string>();

/** `SELECT set_config(name, …) FROM [pg_catalog.]pg_settings WHERE name = '<constant>'`: the call and the constant. */
function setConfigOfPgSettingsRow(select: NodeFields<'SelectStmt'>): { call: NodeFields<'FuncCall'>; name: string } | undefined {
  const targets = select.targetList ?? [];
  const from = select.fromClause ?? [];
  if (targets.length !== 1 || from.length !== 1) return undefined;
  const call = fieldsOf(fieldsOf(targets[0], 'ResTarget')?.val, 'FuncCall');
  if (!call) return undefined;
  if (String(stringsOf(call.funcname).at(-1)).toLowerCase() !== 'set_config' || !isNameColumn(call.args?.[0])) return undefined;
  const relation = fieldsOf(from[0], 'RangeVar');
  if (relation?.relname !== 'pg_settings') return undefined;
  if (relation.schemaname !== undefined && relation.schemaname !== 'pg_catalog') return undefined;
  const where = fieldsOf(select.whereClause, 'A_Expr');
  if (where?.kind !== 'AEXPR_OP') return undefined;
  const operator = stringsOf(where.name);
  if (operator.length !== 1 || operator[0] !== '=' || !isNameColumn(where.lexpr)) return undefined;
  const name = constantValue(where.rexpr);
  return typeof name === 'string' ? { call, name } : undefined;
}

function isNameColumn(node: Node | undefined): boolean {
  const fields = stringsOf(fieldsOf(node, 'ColumnRef')?.fields);
  return fields.length === 1 && fields[0] === 'name';
}

/** set_config(setting_name, new_value, is_local): allowed only for a constant name of an allowed setting. */
function checkSetConfig(args: readonly Node[], ctx: GateContext, displayName: string, namedByWhere?: string): Verdict {
  let settingArg = args[0];
  let valueArg = args[1];
  for (const arg of args) {
    const named = fieldsOf(arg, 'NamedArgExpr');
    if (named?.name === 'setting_name') settingArg = named.arg;
    if (named?.name === 'new_value') valueArg = named.arg;
  }
  const setting = namedByWhere ?? constantValue(settingArg);
  if (typeof setting !== 'string') {
    return deniedFunction(displayName, 'the setting name must be a constant naming an allowed setting');
  }
  const reason = settingRefusal(setting, constantValue(valueArg), ctx.allowedSettings ?? []);
  return reason === undefined ? withinCeiling(ALLOWED, setting, constantValue(valueArg), ctx) : deniedFunction(displayName, reason);
}

/**
 * The value of a constant as PostgreSQL's parser left it: `'on'` → 'on', `1` → 1, `true` → true.
 * A typed literal (`INTERVAL '1h'`) gives its string. Anything else (column, expression) → undefined.
 */
function constantValue(node: Node | undefined): SettingValue {
  const cast = fieldsOf(node, 'TypeCast');
  if (cast) return constantValue(cast.arg);
  const f = fieldsOf(node, 'A_Const');
  if (!f || f.isnull) return undefined;
  // Zero and false are omitted from the JSON tree: `{ ival: {} }`, `{ boolval: {} }`.
  if (f.sval !== undefined) return f.sval.sval;
  if (f.ival !== undefined) return f.ival.ival ?? 0;
  if (f.boolval !== undefined) return f.boolval.boolval ?? false;
  if (f.fval !== undefined) return f.fval.fval;
  return undefined;
}
