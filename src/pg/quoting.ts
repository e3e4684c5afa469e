/** Writing names and values into SQL text the way PostgreSQL reads them (standard_conforming_strings on). */

/** A table by schema and name, as kinesql's definitions name them. */
export interface TableName {
  schemaName: string;
  tableName: string;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function qualifiedName(table: TableName): string {
  return `${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)}`;
}
