/**
 * What kinesql learns from a client's SQL text, from one parse of it, as plain data: whether it may run, what
 * it reads and sets, and how the engine's copy of it differs (splices of the client's text). The analysis
 * runs on the main thread for ordinary statements and in a worker thread for very large ones
 * (text-worker.ts), so that parsing megabytes of SQL never holds up other sessions; the engine's text is
 * then spliced together from the analysis, without parsing again.
 */
import { oldCatalogColumnEdits } from './client-compat.js';
import { copyQuery, copyTableSites, type CopyTableSite } from './copy-table.js';
import { spelledOutStar, starSites, type ColumnVisibility, type StarSite } from './hidden-columns.js';
import type { ParsedStatement } from './parse.js';
import { entryOf } from './parse-tree.js';
import { checkStatements, type GateContext } from './readonly-gate.js';
import { roleProbeEdits } from './role-probes.js';
import { serverIdentityEdits, showPortEdits } from './server-identity.js';
import { settingQuestionEdits } from './setting-questions.js';
import { propertiesSetBy } from './session-properties.js';
import { settingChangesOf, type SettingChange } from './setting-changes.js';
import { spliceUtf8, type ByteEdit } from './splice.js';
import { referencedRelations, type RelationName } from './stream-tables.js';
import { lazyTokens } from './tokens.js';

/** The SQL-level PREPARE, EXECUTE, DEALLOCATE and DISCARD of a statement string. */
export interface PreparedChanges {
  /** Each PREPARE's name, the relations it names, and the index of the PREPARE among the string's statements. */
  prepares: [name: string, relations: RelationName[], statement: number][];
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
  /** The Trino connector's session properties (and kinesql.max_staleness) the string SETs to constants. */
  properties: [string, string][];
  prepared: PreparedChanges;
  /** What it does to the session's settings and transaction state, in order (setting-changes.ts). */
  settingChanges: SettingChange[];
  /** How the engine's copy of the text may differ from the client's, in UTF-8 byte offsets of the client's. */
  rewrites: Rewrites;
}

export interface Rewrites {
  /** Older clients' names of renamed catalog columns (client-compat.ts): for engines that renamed them. */
  catalogColumns: ByteEdit[];
  /** Questions about the server pointed at kinesql (server-identity.ts): always. */
  serverIdentity: ByteEdit[];
  /** Stars over tables that may hide columns (hidden-columns.ts): for those that do, under the session's search_path. */
  stars: StarSite[];
  /**
   * SHOW of a session property, SHOW ALL, reads of pg_settings and the catalog (setting-questions.ts) and questions
   * about roles (role-probes.ts): always.
   */
  settings: ByteEdit[];
  /** `COPY table TO` (copy-table.ts): always, as `COPY (SELECT …) TO`. */
  copies: CopyTableSite[];
}

export function analyzeText(sql: string, gate: GateContext = {}): { analysis: TextAnalysis; statements: ParsedStatement[] } {
  const verdict = checkStatements(sql, gate);
  if (!verdict.allowed) {
    const { message, sqlstate, position, hint } = verdict;
    const refusal = { message, sqlstate, ...(position !== undefined ? { position } : {}), ...(hint !== undefined ? { hint } : {}) };
    return { analysis: refusedAnalysis(refusal), statements: [] };
  }
  const relations = verdict.statements.flatMap((statement, index) => referencedRelations(statement.node).map((relation) => ({ relation, statement: index })));
  const tokens = lazyTokens(sql);
  const rewrites: Rewrites = {
    catalogColumns: oldCatalogColumnEdits(sql, tokens),
    serverIdentity: [...serverIdentityEdits(sql, tokens), ...showPortEdits(sql, verdict.statements)],
    stars: starSites(
      verdict.statements.map((statement) => statement.node),
      tokens,
    ),
    settings: [...settingQuestionEdits(sql, verdict.statements, tokens), ...roleProbeEdits(sql, verdict.statements, tokens)],
    copies: copyTableSites(verdict.statements, tokens),
  };
  return {
    analysis: {
      relations,
      properties: [...propertiesSetBy(verdict.statements)],
      prepared: preparedChanges(verdict.statements),
      settingChanges: settingChangesOf(verdict.statements),
      rewrites,
    },
    statements: verdict.statements,
  };
}

/** The analysis of a string that may not run. */
export function refusedAnalysis(refusal: NonNullable<TextAnalysis['refusal']>): TextAnalysis {
  const rewrites = { catalogColumns: [], serverIdentity: [], stars: [], settings: [], copies: [] };
  return { refusal, relations: [], properties: [], prepared: preparedChanges([]), settingChanges: [], rewrites };
}

function preparedChanges(statements: readonly ParsedStatement[]): PreparedChanges {
  const changes: PreparedChanges = { prepares: [], executes: [], deallocates: [], deallocateAll: false, discardAll: false };
  for (const [index, statement] of statements.entries()) {
    const { kind, fields } = entryOf(statement.node);
    switch (kind) {
      case 'PrepareStmt':
        if (fields.name !== undefined) changes.prepares.push([fields.name, referencedRelations(statement.node), index]);
        break;
      case 'ExecuteStmt':
        if (fields.name !== undefined) changes.executes.push(fields.name);
        break;
      case 'DeallocateStmt':
        if (fields.isall === true) changes.deallocateAll = true;
        if (fields.name !== undefined) changes.deallocates.push(fields.name);
        break;
      case 'DiscardStmt':
        if (fields.target === undefined || fields.target === 'DISCARD_ALL') changes.discardAll = true;
        break;
    }
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

/** Whether the engine gets the client's text as is, whatever the session: the analysis found nothing to rewrite. */
export function rewritesNothing(analysis: TextAnalysis): boolean {
  const { catalogColumns, serverIdentity, settings, stars, copies } = analysis.rewrites;
  return catalogColumns.length === 0 && serverIdentity.length === 0 && settings.length === 0 && stars.length === 0 && copies.length === 0;
}

/**
 * The client's SQL as the engine gets it: older clients' names of renamed catalog columns updated, questions
 * about the server pointed at kinesql, every `*` over a table with hidden columns spelled out, and `COPY
 * table TO` turned into `COPY (SELECT …) TO`. `sql` is
 * the text `analysis` was made from; it is returned as is when nothing changes.
 */
export function prepareText(sql: string, analysis: TextAnalysis, context: StarContext): string {
  const { catalogColumns, serverIdentity, settings, stars, copies } = analysis.rewrites;
  const lookup = (relation: RelationName): ColumnVisibility | undefined => {
    const schemas = relation.schema === undefined ? context.searchPath : [relation.schema];
    for (const schema of schemas) {
      const table = context.tables.find((candidate) => candidate.schema === schema && candidate.name === relation.name);
      if (table) return { visible: table.visible };
    }
    return undefined;
  };
  const edits: ByteEdit[] = [];
  for (const site of stars) {
    const visibility = lookup(site.relation);
    if (visibility && visibility.visible.length > 0) edits.push({ start: site.start, end: site.end, text: spelledOutStar(site, visibility) });
  }
  for (const site of copies) edits.push({ start: site.start, end: site.end, text: copyQuery(site, lookup(site.relation)) });
  const overlapsStar = (edit: ByteEdit): boolean => edits.some((star) => edit.start < star.end && star.start < edit.end);
  if (context.renameOldCatalogColumns) edits.push(...catalogColumns.filter((edit) => !overlapsStar(edit)));
  edits.push(...[...serverIdentity, ...settings].filter((edit) => !overlapsStar(edit)));
  return spliceUtf8(sql, edits);
}
