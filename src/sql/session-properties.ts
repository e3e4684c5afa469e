/**
 * The session properties (SET kinesis.x = …, config/session-properties.ts) that a SQL string sets with
 * constants. They are checked when set, as PostgreSQL checks its own settings, and the catch-up of the same
 * string plans with them.
 */
import { sessionPropertyNamed } from '../config/session-properties.js';
import type { ParsedStatement } from './parse.js';
import { fieldsOf, type Node } from './parse-tree.js';

export function propertiesSetBy(statements: readonly ParsedStatement[]): Map<string, string> {
  const set = new Map<string, string>();
  for (const statement of statements) {
    const fields = fieldsOf(statement.node, 'VariableSetStmt');
    if (fields) {
      const name = fields.name?.toLowerCase();
      if (name === undefined || !sessionPropertyNamed(name)) continue;
      if (fields.kind === 'VAR_RESET' || fields.kind === 'VAR_SET_DEFAULT') set.set(name, '');
      else if (fields.kind === 'VAR_SET_VALUE' && fields.args?.length === 1) {
        const value = constantText(fields.args[0]);
        if (value !== undefined) set.set(name, value);
      }
    }
  }
  return set;
}

function constantText(node: Node | undefined): string | undefined {
  const constant = fieldsOf(node, 'A_Const');
  if (!constant) return undefined;
  const value = constant.sval?.sval ?? constant.ival?.ival ?? constant.fval?.fval ?? constant.boolval?.boolval;
  // The parse tree leaves out zero and false.
  if (constant.ival !== undefined && value === undefined) return '0';
  if (constant.boolval !== undefined && value === undefined) return 'false';
  return value === undefined ? undefined : String(value);
}
