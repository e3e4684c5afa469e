import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { KinesqlConfig } from '../config/config.js';
import type { TableDefinition } from './definition.js';
import { DefinitionSet, type DefinitionStatus, type DefinitionUpdate, type LocationProblem, type TableChange } from './definition-set.js';
import type { DefinitionBatch, DefinitionSource } from './definition-source.js';
import { DirectorySource } from './directory-source.js';
import { DefinitionError, parseDefinition } from './parse-definition.js';
import { createS3Client, S3Source } from './s3-source.js';

export interface CatalogEvents {
  /** Every change of one source batch, in one call (for consumers that swap tables as a set); may be empty when only status changed. */
  changes: [TableChange[]];
  'table-added': [table: TableDefinition];
  'table-changed': [table: TableDefinition, old: TableDefinition];
  'table-removed': [table: TableDefinition];
  /** The source itself failed (listing, directory gone, a watcher error); the tables already loaded stay. */
  'source-error': [error: Error];
}

export interface CatalogOptions {
  source: DefinitionSource;
  defaultSchema: string;
  logger?: Logger;
}

/**
 * The tables kinesql serves: definitions from one source, parsed and validated, with duplicates and broken
 * files handled by DefinitionSet. Emits table-added / table-changed / table-removed as definitions come
 * and go; `await start()` resolves once the initial load has been applied.
 */
export class Catalog extends EventEmitter<CatalogEvents> {
  private readonly set = new DefinitionSet();
  private readonly logger: Logger;
  /** source → the problem last logged for it, so an unchanged problem is logged once. */
  private readonly logged = new Map<string, string>();
  /** Set while the source cannot be listed; every definition is then shown stale with it. */
  private locationProblem: LocationProblem | undefined;
  private readonly onBatch = (batch: DefinitionBatch) => this.apply(batch);
  private readonly onSourceError = (error: Error) => {
    this.logger.error({ location: this.options.source.location, err: error }, 'table definition source failed; keeping the tables already loaded');
    this.emit('source-error', error);
  };
  private readonly onUnavailable = (error: Error) => {
    if (this.locationProblem?.error === error.message) return;
    this.locationProblem = { location: this.options.source.location, error: error.message, at: new Date() };
    this.logger.warn(
      { location: this.options.source.location, err: error },
      `table definition location cannot be listed; keeping its tables at their last good version: ${error.message}`,
    );
    this.emit('source-error', error);
    this.emit('changes', []);
  };
  private readonly onAvailable = () => {
    if (this.locationProblem === undefined) return;
    this.locationProblem = undefined;
    this.logger.info({ location: this.options.source.location }, 'table definition location can be listed again');
    this.emit('changes', []);
  };

  constructor(private readonly options: CatalogOptions) {
    super();
    this.logger = options.logger ?? pino({ name: 'catalog' });
  }

  async start(): Promise<void> {
    this.options.source.on('batch', this.onBatch);
    this.options.source.on('error', this.onSourceError);
    this.options.source.on('unavailable', this.onUnavailable);
    this.options.source.on('available', this.onAvailable);
    try {
      await this.options.source.start();
    } catch (error) {
      this.detach();
      throw error;
    }
    const rows = this.status();
    this.logger.info(
      { location: this.options.source.location, tables: this.set.tables().length, broken: rows.filter((r) => r.status !== 'ok').length },
      'table definitions loaded',
    );
  }

  async stop(): Promise<void> {
    await this.options.source.stop();
    this.detach();
  }

  /** The tables served now, ordered by schema and name. */
  tables(): TableDefinition[] {
    return this.set.tables();
  }

  /** One row per definition file or object, for the `kinesql.definitions` view. */
  status(): DefinitionStatus[] {
    return this.set.status(this.locationProblem);
  }

  private detach(): void {
    this.options.source.off('batch', this.onBatch);
    this.options.source.off('error', this.onSourceError);
    this.options.source.off('unavailable', this.onUnavailable);
    this.options.source.off('available', this.onAvailable);
  }

  private apply(batch: DefinitionBatch): void {
    const update: Required<DefinitionUpdate> = { accepted: [], rejected: [], removed: batch.removed };
    for (const { source, text, version, readRelativeFile, readRelativeBytes } of batch.changed) {
      try {
        update.accepted.push(
          parseDefinition(text, source, version, {
            defaultSchema: this.options.defaultSchema,
            ...(readRelativeFile === undefined ? {} : { readRelativeFile }),
            ...(readRelativeBytes === undefined ? {} : { readRelativeBytes }),
          }),
        );
      } catch (error) {
        if (!(error instanceof DefinitionError)) throw error;
        update.rejected.push({ source, version, error: error.message });
        this.logged.set(source, error.message);
        this.logger.error({ file: source, field: error.path || undefined, problem: error.problem }, `bad table definition: ${error.message}`);
      }
    }
    for (const { source, error } of batch.unreadable ?? []) {
      update.rejected.push({ source, version: '', error });
      this.logged.set(source, error);
      this.logger.warn({ file: source, problem: error }, `table definition cannot be read; keeping its last good version: ${error}`);
    }
    for (const source of batch.removed) {
      this.logged.delete(source);
      this.logger.info({ file: source }, 'table definition removed');
    }
    const changes = this.set.update(update);
    this.logNewProblems();
    for (const change of changes) this.logChange(change);
    // Emitted for every batch, even one that changes no table, so status consumers see new errors too.
    this.emit('changes', changes);
    for (const change of changes) {
      if (change.type === 'table-added') this.emit('table-added', change.table);
      else if (change.type === 'table-changed') this.emit('table-changed', change.table, change.old);
      else this.emit('table-removed', change.table);
    }
  }

  /** Problems that parsing did not log itself: two files defining one table. */
  private logNewProblems(): void {
    for (const row of this.set.status()) {
      if (row.error === null) {
        this.logged.delete(row.source);
      } else if (this.logged.get(row.source) !== row.error) {
        this.logged.set(row.source, row.error);
        this.logger.error({ file: row.source, table: `${row.schemaName}.${row.tableName}`, problem: row.error }, `table definition not served: ${row.error}`);
      }
    }
  }

  private logChange(change: TableChange): void {
    const table = change.table;
    this.logger.info(
      { event: change.type, table: `${table.schemaName}.${table.tableName}`, stream: table.streamName, file: table.source, version: table.version },
      change.type.replace('-', ' '),
    );
  }
}

/** The catalog for a configuration: a watched directory, or a polled S3 prefix when tablesLocation is s3://. */
export function createCatalog(config: KinesqlConfig, logger?: Logger): Catalog {
  const { tablesLocation, refreshIntervalMs, defaultSchema } = config.catalog;
  const source: DefinitionSource = /^s3:\/\//i.test(tablesLocation)
    ? new S3Source(tablesLocation, {
        pollIntervalMs: refreshIntervalMs,
        destroyClientOnStop: true,
        client: createS3Client({
          region: config.aws.region,
          ...(config.aws.s3Endpoint === undefined ? {} : { endpoint: config.aws.s3Endpoint }),
          ...(config.aws.accessKeyId === undefined ? {} : { accessKeyId: config.aws.accessKeyId }),
          ...(config.aws.secretAccessKey === undefined ? {} : { secretAccessKey: config.aws.secretAccessKey }),
        }),
      })
    : new DirectorySource(tablesLocation, { rescanIntervalMs: refreshIntervalMs });
  return new Catalog({ source, defaultSchema, ...(logger === undefined ? {} : { logger }) });
}
