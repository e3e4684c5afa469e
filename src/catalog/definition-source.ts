import type { EventEmitter } from 'node:events';

/** The text of one definition file or object as a source read it. */
export interface DefinitionText {
  /** A file path or an s3:// URI; the key a definition is known by. */
  source: string;
  text: string;
  /** mtime (directory) or ETag (S3). */
  version: string;
  /** Reads a file relative to the definition (only directory sources can; used for dataSchema paths). */
  readRelativeFile?: (relativePath: string) => string;
  /** The same for binary files (a protobuf FileDescriptorSet named by dataSchema). */
  readRelativeBytes?: (relativePath: string) => Uint8Array;
}

/**
 * What changed in a source since its previous batch. A batch is applied as a whole, so a rename (one
 * file removed, another added with the same table) is never seen half done.
 */
export interface DefinitionBatch {
  changed: DefinitionText[];
  /** Only what a successful listing no longer shows: a file or object that cannot be read is never removed. */
  removed: string[];
  /**
   * Listed but not readable (permissions, a symlink into a missing volume, a failed GetObject): each keeps its
   * last good version. Reported when the problem starts or changes; the next `changed` entry for it ends it.
   */
  unreadable?: UnreadableDefinition[];
}

export interface UnreadableDefinition {
  source: string;
  /** Names the file or object and the OS or S3 error. */
  error: string;
}

export interface DefinitionSourceEvents {
  /** One batch per detected change; the initial load is one batch emitted before start() resolves. */
  batch: [DefinitionBatch];
  /**
   * The location cannot be listed (directory gone or unreadable, S3 listing failing): nothing is removed while
   * it lasts. Emitted when the problem starts and when its message changes, not on every retry.
   */
  unavailable: [Error];
  /** The location can be listed again; emitted before the batch of what changed while it could not. */
  available: [];
  /** Any other problem of the source (a watcher failure); its definitions are kept. */
  error: [Error];
}

/** Where table definitions come from: a watched directory or a polled S3 prefix. */
export interface DefinitionSource extends EventEmitter<DefinitionSourceEvents> {
  /** Where the definitions are read from, for messages. */
  readonly location: string;
  /** Reads everything once (emitting one batch), then watches. Rejects when the location cannot be listed at all. */
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
