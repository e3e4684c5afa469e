/**
 * libpg-query's parse tree with its node types (@pgsql/types, which libpg-query re-exports and depends on at
 * the version it was built with), and the one walk over it that every reader of trees in sql/ uses. Code
 * reads a node's fields through these types, so a libpg-query upgrade that renames a node or changes a
 * field fails to compile where the field is read, instead of silently finding nothing.
 *
 * A tree holds most nodes wrapped in their kind, `{ "SelectStmt": { … } }` (where the type says `Node`), and
 * some bare, where the type names the kind itself (`SelectStmt.larg`, `InsertStmt.relation`: BARE_FIELDS).
 */
import type { Node } from 'libpg-query';

export type { Node } from 'libpg-query';

type Intersection<U> = (U extends unknown ? (item: U) => void : never) extends (all: infer I) => void ? I : never;

/** Every kind's fields, under its name: one object type, so that looking a kind up is cheap for the compiler. */
type NodeMap = Intersection<Node>;

/** Every kind of node the grammar makes: `SelectStmt`, `A_Const`, `RangeVar`, … */
export type NodeKind = keyof NodeMap;

/** The fields of a node of one kind: `NodeFields<'RangeVar'>` has `schemaname`, `relname`, `alias`, `location`, … */
export type NodeFields<K extends NodeKind> = NodeMap[K];

/** A node's kind and fields as a pair, so that a `switch` on `kind` narrows `fields`. */
export type NodeEntry = { [K in NodeKind]: { readonly kind: K; readonly fields: NodeFields<K> } }[NodeKind];

/**
 * The node's kind and fields. At run time the kind may be one these types do not know (a parser newer than
 * its types): it then matches no `case`, and callers treat the `default` as the unknown.
 */
export function entryOf(node: Node): NodeEntry {
  const kind = Object.keys(node)[0] ?? '';
  return { kind, fields: (node as Record<string, unknown>)[kind] } as NodeEntry;
}

/** The node's fields if it is of `kind`, else undefined: `fieldsOf(node, 'A_Const')?.sval?.sval`. */
export function fieldsOf<K extends NodeKind>(node: Node | undefined, kind: K): NodeFields<K> | undefined {
  if (node === undefined || node === null || typeof node !== 'object' || !(kind in node)) return undefined;
  return (node as Record<string, unknown>)[kind] as NodeFields<K>;
}

/** The strings of a list of `String` nodes (a qualified name, an operator): undefined for an item that is not one. */
export function stringsOf(list: readonly Node[] | undefined): (string | undefined)[] {
  return (list ?? []).map((item) => fieldsOf(item, 'String')?.sval);
}

/**
 * Fields that hold a node (or a list of nodes) bare, without the wrapper naming its kind, and that kind, as
 * @pgsql/types declares them. Field names are checked here by the compiler; test/sql/parse-tree.test.ts
 * checks the kinds and that every bare field of the types is listed.
 */
export const BARE_FIELDS = {
  ParseResult: { stmts: 'RawStmt' },
  ScanResult: { tokens: 'ScanToken' },
  A_Const: { ival: 'Integer', fval: 'Float', boolval: 'Boolean', sval: 'String', bsval: 'BitString' },
  RangeVar: { alias: 'Alias' },
  IntoClause: { rel: 'RangeVar', viewQuery: 'Query' },
  JsonReturning: { format: 'JsonFormat' },
  JsonValueExpr: { format: 'JsonFormat' },
  JsonConstructorExpr: { returning: 'JsonReturning' },
  JsonIsPredicate: { format: 'JsonFormat' },
  JsonExpr: { format: 'JsonFormat', returning: 'JsonReturning', on_empty: 'JsonBehavior', on_error: 'JsonBehavior' },
  JsonTablePathScan: { path: 'JsonTablePath' },
  JoinExpr: { join_using_alias: 'Alias', alias: 'Alias' },
  Query: { jointree: 'FromExpr', onConflict: 'OnConflictExpr' },
  TypeCast: { typeName: 'TypeName' },
  FuncCall: { over: 'WindowDef' },
  RangeSubselect: { alias: 'Alias' },
  RangeFunction: { alias: 'Alias' },
  RangeTableFunc: { alias: 'Alias' },
  RangeTableFuncCol: { typeName: 'TypeName' },
  ColumnDef: { typeName: 'TypeName', identitySequence: 'RangeVar', collClause: 'CollateClause' },
  TableLikeClause: { relation: 'RangeVar' },
  XmlSerialize: { typeName: 'TypeName' },
  PartitionCmd: { name: 'RangeVar', bound: 'PartitionBoundSpec' },
  RangeTblEntry: { alias: 'Alias', eref: 'Alias', tablesample: 'TableSampleClause', subquery: 'Query', join_using_alias: 'Alias', tablefunc: 'TableFunc' },
  OnConflictClause: { infer: 'InferClause' },
  CommonTableExpr: { search_clause: 'CTESearchClause', cycle_clause: 'CTECycleClause' },
  JsonOutput: { typeName: 'TypeName', returning: 'JsonReturning' },
  JsonArgument: { val: 'JsonValueExpr' },
  JsonFuncExpr: { context_item: 'JsonValueExpr', output: 'JsonOutput', on_empty: 'JsonBehavior', on_error: 'JsonBehavior' },
  JsonTable: { context_item: 'JsonValueExpr', pathspec: 'JsonTablePathSpec', on_error: 'JsonBehavior', alias: 'Alias' },
  JsonTableColumn: { typeName: 'TypeName', pathspec: 'JsonTablePathSpec', format: 'JsonFormat', on_empty: 'JsonBehavior', on_error: 'JsonBehavior' },
  JsonKeyValue: { value: 'JsonValueExpr' },
  JsonParseExpr: { expr: 'JsonValueExpr', output: 'JsonOutput' },
  JsonScalarExpr: { output: 'JsonOutput' },
  JsonSerializeExpr: { expr: 'JsonValueExpr', output: 'JsonOutput' },
  JsonObjectConstructor: { output: 'JsonOutput' },
  JsonArrayConstructor: { output: 'JsonOutput' },
  JsonArrayQueryConstructor: { output: 'JsonOutput', format: 'JsonFormat' },
  JsonAggConstructor: { output: 'JsonOutput', over: 'WindowDef' },
  JsonObjectAgg: { constructor: 'JsonAggConstructor', arg: 'JsonKeyValue' },
  JsonArrayAgg: { constructor: 'JsonAggConstructor', arg: 'JsonValueExpr' },
  InsertStmt: { relation: 'RangeVar', onConflictClause: 'OnConflictClause', returningClause: 'ReturningClause', withClause: 'WithClause' },
  DeleteStmt: { relation: 'RangeVar', returningClause: 'ReturningClause', withClause: 'WithClause' },
  UpdateStmt: { relation: 'RangeVar', returningClause: 'ReturningClause', withClause: 'WithClause' },
  MergeStmt: { relation: 'RangeVar', returningClause: 'ReturningClause', withClause: 'WithClause' },
  SelectStmt: { intoClause: 'IntoClause', withClause: 'WithClause', larg: 'SelectStmt', rarg: 'SelectStmt' },
  PLAssignStmt: { val: 'SelectStmt' },
  CreateSchemaStmt: { authrole: 'RoleSpec' },
  AlterTableStmt: { relation: 'RangeVar' },
  AlterTableCmd: { newowner: 'RoleSpec' },
  GrantStmt: { grantor: 'RoleSpec' },
  GrantRoleStmt: { grantor: 'RoleSpec' },
  AlterDefaultPrivilegesStmt: { action: 'GrantStmt' },
  CopyStmt: { relation: 'RangeVar' },
  CreateStmt: { relation: 'RangeVar', partbound: 'PartitionBoundSpec', partspec: 'PartitionSpec', ofTypename: 'TypeName' },
  Constraint: { pktable: 'RangeVar' },
  CreateTableSpaceStmt: { owner: 'RoleSpec' },
  CreateForeignTableStmt: { base: 'CreateStmt' },
  CreateUserMappingStmt: { user: 'RoleSpec' },
  AlterUserMappingStmt: { user: 'RoleSpec' },
  DropUserMappingStmt: { user: 'RoleSpec' },
  CreatePolicyStmt: { table: 'RangeVar' },
  AlterPolicyStmt: { table: 'RangeVar' },
  CreateTrigStmt: { relation: 'RangeVar', constrrel: 'RangeVar' },
  AlterRoleStmt: { role: 'RoleSpec' },
  AlterRoleSetStmt: { role: 'RoleSpec', setstmt: 'VariableSetStmt' },
  CreateSeqStmt: { sequence: 'RangeVar' },
  AlterSeqStmt: { sequence: 'RangeVar' },
  CreateDomainStmt: { typeName: 'TypeName', collClause: 'CollateClause' },
  CreateOpClassStmt: { datatype: 'TypeName' },
  CreateOpClassItem: { name: 'ObjectWithArgs', storedtype: 'TypeName' },
  IndexStmt: { relation: 'RangeVar' },
  CreateFunctionStmt: { returnType: 'TypeName' },
  FunctionParameter: { argType: 'TypeName' },
  AlterFunctionStmt: { func: 'ObjectWithArgs' },
  CallStmt: { funccall: 'FuncCall', funcexpr: 'FuncExpr' },
  RenameStmt: { relation: 'RangeVar' },
  AlterObjectDependsStmt: { relation: 'RangeVar', extname: 'String' },
  AlterObjectSchemaStmt: { relation: 'RangeVar' },
  AlterOwnerStmt: { relation: 'RangeVar', newowner: 'RoleSpec' },
  AlterOperatorStmt: { opername: 'ObjectWithArgs' },
  RuleStmt: { relation: 'RangeVar' },
  CompositeTypeStmt: { typevar: 'RangeVar' },
  ViewStmt: { view: 'RangeVar' },
  AlterDatabaseSetStmt: { setstmt: 'VariableSetStmt' },
  AlterSystemStmt: { setstmt: 'VariableSetStmt' },
  ClusterStmt: { relation: 'RangeVar' },
  VacuumRelation: { relation: 'RangeVar' },
  CreateTableAsStmt: { into: 'IntoClause' },
  RefreshMatViewStmt: { relation: 'RangeVar' },
  ReindexStmt: { relation: 'RangeVar' },
  CreateCastStmt: { sourcetype: 'TypeName', targettype: 'TypeName', func: 'ObjectWithArgs' },
  CreateTransformStmt: { type_name: 'TypeName', fromsql: 'ObjectWithArgs', tosql: 'ObjectWithArgs' },
  ReassignOwnedStmt: { newrole: 'RoleSpec' },
  PublicationTable: { relation: 'RangeVar' },
  PublicationObjSpec: { pubtable: 'PublicationTable' },
  SummaryResult: { tables: 'Table', functions: 'Function', filterColumns: 'FilterColumn' },
} as const satisfies { readonly [K in NodeKind]?: { readonly [F in keyof NodeFields<K>]?: NodeKind } };

/** What a visit tells the walk: stop with a result, leave the node's inside alone, or go on (with a context). */
export type Step<F, C, R> =
  | { readonly stop: R }
  | { readonly skip: true }
  | {
      /** The context the node's fields are walked with. */
      readonly context: C;
      /** A context for some of the fields instead. */
      readonly fieldContext?: { readonly [P in keyof F]?: C };
    };

/**
 * Called for a node of one kind with its fields, the context it is walked in, and whether it was bare (a
 * field typed as this kind) or wrapped (in a place any node may stand). Returning nothing goes on inside it.
 */
export type Visit<F, C, R> = (fields: F, context: C, bare: boolean) => Step<F, C, R> | undefined;

export type Visitor<C, R> = { readonly [K in NodeKind]?: Visit<NodeFields<K>, C, R> };

interface Frame<C> {
  readonly value: unknown;
  /** The kind of a bare node (from its parent's field), undefined when the value says it or is no node. */
  readonly kind: string | undefined;
  readonly context: C;
}

type AnyVisit<C, R> = Visit<unknown, C, R>;
const bareFields: Readonly<Record<string, Readonly<Record<string, string>> | undefined>> = BARE_FIELDS;

/**
 * Walks a tree (or a list of them) in the order its text is written: a node before what is inside it, fields
 * in the parser's order except that a WITH clause comes first. Every node is reached, of every kind, known to
 * the visitor or not, so a node kind a reader does not know never hides what is inside it. Returns the
 * first `stop` result, or undefined. Uses a stack, not recursion: long expressions nest thousands deep.
 */
export function walk<C, R>(root: unknown, context: C, visitor: Visitor<C, R>): R | undefined {
  const visits = visitor as Readonly<Record<string, AnyVisit<C, R> | undefined>>;
  const stack: Frame<C>[] = [{ value: root, kind: undefined, context }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value } = frame;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], kind: frame.kind, context: frame.context });
      continue;
    }
    let kind = frame.kind;
    let fields: unknown = value;
    if (kind === undefined) {
      const keys = Object.keys(value);
      // Field names start in lower case, kinds in upper case (test/sql/parse-tree.test.ts checks the types say so).
      if (keys.length === 1 && /^[A-Z]/.test(keys[0]!)) {
        kind = keys[0]!;
        fields = (value as Record<string, unknown>)[kind];
      }
    }
    let inner = frame.context;
    let fieldContext: Readonly<Record<string, C | undefined>> | undefined;
    if (kind !== undefined) {
      const step = visits[kind]?.(fields, frame.context, frame.kind !== undefined);
      if (step && 'stop' in step) return step.stop;
      if (step && 'skip' in step) continue;
      if (step) {
        inner = step.context;
        fieldContext = step.fieldContext;
      }
    }
    if (fields === null || typeof fields !== 'object') continue;
    if (Array.isArray(fields)) {
      stack.push({ value: fields, kind: undefined, context: inner });
      continue;
    }
    const bare = kind === undefined ? undefined : bareFields[kind];
    const entries = Object.entries(fields);
    const withFirst = entries.findIndex(([key]) => key === 'withClause');
    if (withFirst > 0) entries.unshift(...entries.splice(withFirst, 1));
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      stack.push({ value: child, kind: bare?.[key], context: fieldContext?.[key] ?? inner });
    }
  }
  return undefined;
}
