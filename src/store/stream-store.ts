import type { Logger } from 'pino';
import { createTableStatements, dropTableStatement } from '../catalog/ddl.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { Engine } from '../engine/engine.js';
import { StreamTable, type StreamTableOptions } from './stream-table.js';

export interface RelationName {
  schema?: string;
  name: string;
}

export type StoreOptions = Omit<StreamTableOptions, 'windowStart'> & {
  /** Seconds of history a table shows; undefined = from TRIM_HORIZON. */
  windowSeconds: number | undefined;
};

function keyOf(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

/** The stream tables the engine holds, by schema and name. */
export class StreamStore {
  private readonly tables = new Map<string, StreamTable>();

  constructor(
    private readonly engine: Engine,
    private readonly options: StoreOptions,
    private readonly logger: Logger,
  ) {}

  list(): StreamTable[] {
    return [...this.tables.values()];
  }

  /** Creates the engine table for a definition (replacing any table of that name) and starts tracking it. */
  async add(definition: TableDefinition): Promise<StreamTable> {
    const statements = [dropTableStatement(definition), ...createTableStatements(definition)];
    await this.engine.exclusive(async () => {
      for (const statement of statements) await this.engine.exec(statement);
    });
    const windowStart =
      this.options.windowSeconds === undefined ? undefined : new Date(Date.now() - this.options.windowSeconds * 1000);
    const table = new StreamTable(definition, { ...this.options, windowStart });
    this.tables.set(keyOf(definition.schemaName, definition.tableName), table);
    this.logger.info(
      { table: `${definition.schemaName}.${definition.tableName}`, stream: definition.streamName, source: definition.source },
      'stream table ready',
    );
    return table;
  }

  async remove(definition: Pick<TableDefinition, 'schemaName' | 'tableName'>): Promise<void> {
    this.tables.delete(keyOf(definition.schemaName, definition.tableName));
    await this.engine.exclusive(() => this.engine.exec(dropTableStatement(definition)));
  }

  /** The stream tables a statement names; unqualified names are looked up along searchPath. */
  resolve(relations: RelationName[], searchPath: string[]): StreamTable[] {
    const found = new Set<StreamTable>();
    for (const relation of relations) {
      const schemas = relation.schema === undefined ? searchPath : [relation.schema];
      for (const schema of schemas) {
        const table = this.tables.get(keyOf(schema, relation.name));
        if (table) {
          found.add(table);
          break;
        }
      }
    }
    return [...found];
  }

  /** Brings every given table up to the streams' tips as of stopAt, in parallel. */
  async catchUp(tables: StreamTable[], stopAt: Date): Promise<void> {
    await Promise.all(tables.map((table) => table.catchUp(stopAt)));
  }
}
