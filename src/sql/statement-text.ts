/**
 * What kinesql learns from a client's SQL text, and the text the engine gets instead, as plain data: the same
 * functions run on the main thread for ordinary statements and in a worker thread for very large ones
 * (text-worker.ts), so that parsing megabytes of SQL never holds up other sessions.
 */
import { renameOldCatalogColumns } from './client-compat.js';
import { hideColumnsFromStars, type ColumnVisibility } from './hidden-columns.js';
import { isParseFailure, parseStatements, type ParsedStatement } from './parse.js';
import { checkStatements } from './readonly-gate.js';
import { answerAsKinesql } from './server-identity.js';
import { propertiesSetBy } from './session-properties.js';
import { referencedRelations, type RelationName } from './stream-tables.js';

/** The SQL-level PREPARE, EXECUTE, DEALLOCATE and DISCARD of a statement string. */
export interface PreparedChanges {
  prepares: [string, RelationName[]][];
  executes: string[];
  deallocates: string[];
  deallocateAll: boolean;
  discardAll: boolean;
}

export interface TextAnalysis {
  /** Why the read-only gate refuses the string; absent when it may run. */
  refusal?: { message: string; sqlstate: string; position?: number; hint?: string };
  /** Each relation the statements name, with the index of the statement naming it. */
  relations: { relation: RelationName; statement: number }[];
  /** The seed's session properties (and kinesql.max_staleness) the string SETs to constants. */
  properties: [string, string][];
  prepared: PreparedChanges;
}

export function analyzeText(sql: string): { analysis: TextAnalysis; statements: ParsedStatement[] } {
  const verdict = checkStatements(sql);
  if (!verdict.allowed) {
    const { message, sqlstate, position, hint } = verdict;
    const refusal = { message, sqlstate, ...(position !== undefined ? { position } : {}), ...(hint !== undefined ? { hint } : {}) };
    return { analysis: { refusal, relations: [], properties: [], prepared: preparedChanges([]) }, statements: [] };
  }
  const relations = verdict.statements.flatMap((statement, index) => referencedRelations(statement.node).map((relation) => ({ relation, statement: index })));
  return {
    analysis: { relations, properties: [...propertiesSetBy(verdict.statements)], prepared: preparedChanges(verdict.statements) },
    statements: verdict.statements,
  };
}

function preparedChanges(statements: readonly ParsedStatement[]): PreparedChanges {
  const changes: PreparedChanges = { prepares: [], executes: [], deallocates: [], deallocateAll: false, discardAll: false };
  for (const statement of statements) {
    const fields = (statement.node as unknown as Record<string, Record<string, unknown>>)[statement.nodeType] ?? {};
    const name = fields['name'];
    if (statement.nodeType === 'DeallocateStmt' && fields['isall'] === true) changes.deallocateAll = true;
    if (statement.nodeType === 'DiscardStmt' && (fields['target'] === undefined || fields['target'] === 'DISCARD_ALL')) changes.discardAll = true;
    if (typeof name !== 'string') continue;
    if (statement.nodeType === 'PrepareStmt') changes.prepares.push([name, referencedRelations(statement.node)]);
    else if (statement.nodeType === 'ExecuteStmt') changes.executes.push(name);
    else if (statement.nodeType === 'DeallocateStmt') changes.deallocates.push(name);
  }
  return changes;
}

/** A stream table whose `*` leaves columns out, and the session's search_path to find tables by. */
export interface StarContext {
  searchPath: readonly string[];
  tables: readonly { schema: string; name: string; visible: readonly string[] }[];
  /** Whether the engine renamed catalog columns older clients still ask for (PostgreSQL 17 and newer). */
  renameOldCatalogColumns: boolean;
}

/**
 * The client's SQL as the engine gets it: older clients' names of renamed catalog columns updated, questions
 * about the server pointed at kinesql, and every `*` over a table with hidden columns spelled out.
 */
export function prepareText(clientSql: string, context: StarContext): string {
  const sql = answerAsKinesql(context.renameOldCatalogColumns ? renameOldCatalogColumns(clientSql) : clientSql);
  if (context.tables.length === 0) return sql;
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) return sql;
  const lookup = (relation: RelationName): ColumnVisibility | undefined => {
    const schemas = relation.schema === undefined ? context.searchPath : [relation.schema];
    for (const schema of schemas) {
      const table = context.tables.find((candidate) => candidate.schema === schema && candidate.name === relation.name);
      if (table) return { visible: table.visible };
    }
    return undefined;
  };
  return (
    hideColumnsFromStars(
      sql,
      parsed.map((statement) => statement.node),
      lookup,
    ) ?? sql
  );
}
