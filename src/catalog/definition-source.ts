import type { EventEmitter } from 'node:events';

/** The text of one definition file or object as a source read it. */
export interface DefinitionText {
  /** A file path or an s3:// URI; the key a definition is known by. */
  source: string;
  text: string;
  /** mtime (directory) or ETag (S3). */
  version: string;
  /** Reads a file relative to the definition (only directory sources can; used for avro dataSchema paths). */
  readRelativeFile?: (relativePath: string) => string;
}

/**
 * What changed in a source since its previous batch. A batch is applied as a whole, so a rename (one
 * file removed, another added with the same table) is never seen half done.
 */
export interface DefinitionBatch {
  changed: DefinitionText[];
  removed: string[];
}

export interface DefinitionSourceEvents {
  /** One batch per detected change; the initial load is one batch emitted before start() resolves. */
  batch: [DefinitionBatch];
  /** A problem with the source itself (listing failed, directory gone); its definitions are kept. */
  error: [Error];
}

/** Where table definitions come from: a watched directory or a polled S3 prefix. */
export interface DefinitionSource extends EventEmitter<DefinitionSourceEvents> {
  /** Where the definitions are read from, for messages. */
  readonly location: string;
  /** Reads everything once (emitting one batch), then watches. Rejects when the location cannot be read at all. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Definition files are `*.json`; dotfiles and editors' temporary/backup files are not (`.#x.json`,
 * `x.json~`, `x.json.swp`, `x.json.tmp` — the last three already fail the `.json` test).
 */
export function isDefinitionFileName(name: string): boolean {
  return !name.startsWith('.') && /\.json$/i.test(name) && !name.endsWith('~');
}
