/**
 * A stream table's indexes, built only after its first load: a bulk COPY into an unindexed table is a third
 * faster, and the statement that did the first load scans it whole anyway. A table taken over with its rows
 * (an earlier run's, a previous definition version's) has them already.
 */
import type { Logger } from 'pino';
import { indexStatements } from '../catalog/ddl.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { Engine } from '../engine/engine.js';

export class DeferredIndexes {
  private built = false;

  constructor(
    private readonly definition: TableDefinition,
    private readonly engine: Engine,
    private readonly logger: Logger,
    /** The table as the log names it. */
    private readonly tableName: string,
    /** Whether the table is being retired (it may be dropped or replaced): no build starts then. */
    private readonly retiring: () => boolean,
  ) {}

  /** The engine table has its indexes already. */
  present(): void {
    this.built = true;
  }

  /**
   * Builds the indexes, unless built, once the statement that did the first load has taken the engine: it
   * does not need them, so it answers without waiting ~3 s per million rows. The timer puts the build behind
   * that statement in the engine's queue; a failed build is tried again after the next load.
   */
  buildSoon(): void {
    if (this.built) return;
    this.built = true;
    setTimeout(() => {
      const build = async (): Promise<void> => {
        if (this.retiring()) return;
        for (const statement of indexStatements(this.definition)) await this.engine.exec(statement);
      };
      build().catch((error: unknown) => {
        this.built = false;
        this.logger.warn({ err: error, table: this.tableName }, 'could not index the table; will try after the next load');
      });
    }, 0);
  }
}
