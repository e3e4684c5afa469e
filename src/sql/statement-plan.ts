/**
 * A client's SQL string as a plan: everything the steps after its analysis need of it, as one value they are
 * handed: the relations it reads rows of, each with the bounds its statement puts on the scan; the session
 * properties it sets; what it does to prepared statements (a PREPARE's relations with the PREPARE's bounds,
 * so that an EXECUTE or a Bind of it later reads no more than the statement itself would); and the analysis
 * the engine's text is spliced from.
 */
import { checkSessionProperty } from '../config/session-properties.js';
import { PgError } from '../pg/pg-error.js';
import type { StatementBounds } from './statement-bounds.js';
import type { PreparedChanges, TextAnalysis } from './statement-text.js';
import type { RelationName } from './stream-tables.js';

/** A string's analysis (statement-text.ts) and, per statement (by index), where its scan bounds come from. */
export interface AnalyzedText {
  analysis: TextAnalysis;
  bounds: StatementBounds[];
}

/** A relation a statement may read rows of, and where the bounds its statement puts on the scan come from. */
export interface RelationRead extends RelationName {
  readonly bounds: StatementBounds;
}

/** The SQL-level PREPARE, EXECUTE, DEALLOCATE and DISCARD of a string, each PREPARE with what its EXECUTEs read. */
export interface PreparedPlan extends Omit<PreparedChanges, 'prepares'> {
  prepares: [name: string, reads: RelationRead[]][];
}

export interface StatementPlan {
  readonly sql: string;
  /** The relations it may read rows of (not those only its EXPLAIN, PREPARE, `LIMIT 0` or constant-false WHERE names). */
  readonly relations: RelationRead[];
  /** The session properties it SETs to constants. */
  readonly properties: Map<string, string>;
  readonly prepared: PreparedPlan;
  /** The analysis: setting changes, and the rewrites the engine's text is spliced from (statement-text.ts). */
  readonly text: TextAnalysis;
}

export const NO_PREPARED_CHANGES: PreparedPlan = { prepares: [], executes: [], deallocates: [], deallocateAll: false, discardAll: false };

/** A statement whose bounds are not known: it reads every row, with no bounds. */
const UNBOUNDED: StatementBounds = { boundsFor: () => undefined, readsNoRows: () => false, rowsEnough: () => undefined };

/**
 * The plan of `sql` from its analysis. A string the read-only gate refuses, or a session property set to a
 * value it can never take, throws a PgError (the client's ErrorResponse). `sql` may be a function that
 * decodes it, called when the plan's `sql` is first read: the text of a refused statement, or of one the engine
 * gets as the client sent it, is never needed.
 */
export function statementPlan(sql: string | (() => string), { analysis, bounds }: AnalyzedText): StatementPlan {
  if (analysis.refusal) {
    const { message, sqlstate, position, hint } = analysis.refusal;
    throw new PgError(message, sqlstate, { position, hint });
  }
  const properties = new Map(analysis.properties);
  for (const [name, value] of properties) checkSessionProperty(name, value);
  const read = (relation: RelationName, statement: number): RelationRead => ({ ...relation, bounds: bounds[statement] ?? UNBOUNDED });
  // A relation the statement reads no rows of needs no catch-up: the statement waits for nothing.
  const relations = analysis.relations.flatMap(({ relation, statement }) => (bounds[statement]?.readsNoRows(relation) ? [] : [read(relation, statement)]));
  const { prepares, ...rest } = analysis.prepared;
  const prepared = {
    ...rest,
    prepares: prepares.map(([name, named, statement]): [string, RelationRead[]] => [name, named.map((relation) => read(relation, statement))]),
  };
  const decode = typeof sql === 'string' ? () => sql : sql;
  let decoded: string | undefined;
  return {
    get sql() {
      decoded ??= decode();
      return decoded;
    },
    relations,
    properties,
    prepared,
    text: analysis,
  };
}
