import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import {
  isDefinitionFileName,
  type DefinitionBatch,
  type DefinitionSource,
  type DefinitionSourceEvents,
  type DefinitionText,
  type UnreadableDefinition,
} from './definition-source.js';

export interface DirectorySourceOptions {
  /** Events for the directory are collected this long before files are read (editors save in several steps). */
  debounceMs?: number;
  /** A file that is not complete JSON is re-read after this long; if it is unchanged and still broken, it is reported. */
  settleMs?: number;
  /** Full re-scan as a safety net against missed watcher events. */
  rescanIntervalMs: number;
  /** Let chokidar poll instead of using fs.watch (network file systems). */
  usePolling?: boolean;
}

interface Known {
  version: string;
  hash: string;
}

/** What one successful listing of the directory found. */
interface Listing {
  /** The definition files in it now. */
  present: Set<string>;
  /** dev:ino of the directory, to notice another directory put in its place. */
  identity: string;
}

interface PassOptions {
  waitForBrokenFiles: boolean;
  /** The load in start(): a directory that cannot be listed fails it instead of being waited for. */
  initial?: boolean;
}

/**
 * Table definitions from the `*.json` files directly in a directory, watched with chokidar and re-scanned
 * periodically. Emits one batch per burst of changes.
 *
 * A file is removed only when a listing of the directory succeeds without it. While the directory cannot be
 * listed (moved away, unmounted, permissions) the source reports `unavailable` once and keeps everything.
 */
export class DirectorySource extends EventEmitter<DefinitionSourceEvents> implements DefinitionSource {
  readonly location: string;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly known = new Map<string, Known>();
  /** Broken files waiting to settle: path → hash of the broken text. */
  private readonly unsettled = new Map<string, string>();
  /** Listed files that could not be read → the error last reported for them. */
  private readonly unreadable = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private watcher: FSWatcher | undefined;
  /** Identity of the directory the watcher follows. */
  private watched: string | undefined;
  /** Why the directory cannot be listed, while it cannot. */
  private unavailable: string | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly settleTimers = new Set<NodeJS.Timeout>();
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    directory: string,
    private readonly options: DirectorySourceOptions,
  ) {
    super();
    this.location = directory;
    this.debounceMs = options.debounceMs ?? 200;
    this.settleMs = options.settleMs ?? 1000;
  }

  async start(): Promise<void> {
    const info = await stat(this.location).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`table definition directory ${this.location} cannot be read (${error.code ?? error.message})`);
    });
    if (!info.isDirectory()) throw new Error(`table definition location ${this.location} is not a directory`);
    try {
      await this.pass(undefined, { waitForBrokenFiles: false, initial: true });
    } catch (error) {
      await this.closeWatcher();
      throw error;
    }
    this.rescanTimer = setInterval(() => {
      this.enqueue(() => this.pass(undefined, { waitForBrokenFiles: true }));
    }, this.options.rescanIntervalMs);
    this.rescanTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    for (const timer of this.settleTimers) clearTimeout(timer);
    await this.flushing;
    await this.closeWatcher();
  }

  /** Compares the whole directory now, as the periodic re-scan does; resolves when that pass is done. */
  rescan(): Promise<void> {
    this.enqueue(() => this.pass(undefined, { waitForBrokenFiles: true }));
    return this.flushing;
  }

  private markDirty(path: string): void {
    if (this.stopped) return;
    this.dirty.add(path);
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.enqueue(() => this.flushDirty()), this.debounceMs);
  }

  /** Runs one read pass at a time, so batches are emitted in order. */
  private enqueue(pass: () => Promise<void>): void {
    this.flushing = this.flushing.then(pass).catch((error: unknown) => {
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
    });
  }

  private async flushDirty(): Promise<void> {
    const paths = [...this.dirty];
    this.dirty.clear();
    await this.pass(paths, { waitForBrokenFiles: true });
  }

  /** Lists the directory, then reads `paths` (or everything that may have changed, when undefined). */
  private async pass(paths: string[] | undefined, options: PassOptions): Promise<void> {
    if (this.stopped) return;
    const listing = await this.list();
    if (this.stopped) return;
    if (listing instanceof Error) {
      if (options.initial === true) {
        throw new Error(`table definition directory ${this.location} cannot be read (${listing.code ?? listing.message})`, { cause: listing });
      }
      await this.becomeUnavailable(listing);
      return;
    }
    let toRead = paths;
    if (this.unavailable !== undefined || listing.identity !== this.watched) {
      // Listable again, or another directory now at this path (a redeploy): the old watcher follows nothing
      // useful, and events may have been missed, so watch anew and compare every file.
      if (this.unavailable !== undefined) {
        this.unavailable = undefined;
        this.emit('available');
      }
      await this.watch(listing.identity);
      toRead = undefined;
    }
    await this.readAndEmit(toRead ?? (await this.outdated(listing.present)), listing.present, options);
  }

  private async list(): Promise<Listing | NodeJS.ErrnoException> {
    try {
      const entries = await readdir(this.location, { withFileTypes: true });
      const info = await stat(this.location);
      return {
        present: new Set(entries.filter((e) => !e.isDirectory() && isDefinitionFileName(e.name)).map((e) => join(this.location, e.name))),
        identity: `${info.dev}:${info.ino}`,
      };
    } catch (error) {
      return (error instanceof Error ? error : new Error(String(error))) as NodeJS.ErrnoException;
    }
  }

  private async becomeUnavailable(error: Error): Promise<void> {
    await this.closeWatcher();
    const message = `cannot list table definition directory ${this.location}: ${error.message}`;
    if (this.stopped || message === this.unavailable) return;
    this.unavailable = message;
    this.emit('unavailable', new Error(message, { cause: error }));
  }

  private async watch(identity: string): Promise<void> {
    await this.closeWatcher();
    if (this.stopped) return;
    const root = resolve(this.location);
    const watcher = watch(this.location, {
      ignoreInitial: true,
      depth: 0,
      usePolling: this.options.usePolling ?? false,
      ignored: (path, stats) => resolve(path) !== root && (stats?.isDirectory() === true || !isDefinitionFileName(basename(path))),
    });
    for (const event of ['add', 'change', 'unlink'] as const) {
      watcher.on(event, (path: string) => this.markDirty(join(this.location, basename(path))));
    }
    watcher.on('error', (error) => this.emit('error', error instanceof Error ? error : new Error(String(error))));
    this.watcher = watcher;
    this.watched = identity;
    await new Promise<void>((ready) => watcher.once('ready', () => ready()));
  }

  private async closeWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    this.watched = undefined;
    await watcher?.close();
  }

  /** Files that may differ from what was last emitted: new, changed, gone, still settling or unreadable. */
  private async outdated(present: Set<string>): Promise<string[]> {
    const candidates = new Set([...present, ...this.known.keys(), ...this.unsettled.keys(), ...this.unreadable.keys()]);
    const toRead: string[] = [];
    for (const path of candidates) {
      if (!present.has(path) || this.unsettled.has(path) || this.unreadable.has(path)) {
        toRead.push(path);
        continue;
      }
      const version = await this.versionOf(path);
      if (version === undefined || version !== this.known.get(path)?.version) toRead.push(path);
    }
    return toRead;
  }

  private async readAndEmit(paths: string[], present: Set<string>, options: PassOptions): Promise<void> {
    if (this.stopped) return;
    const batch: DefinitionBatch = { changed: [], removed: [] };
    const unreadable: UnreadableDefinition[] = [];
    for (const path of paths) {
      let current: DefinitionText | undefined;
      if (present.has(path)) {
        try {
          current = await this.read(path);
        } catch (error) {
          // Gone since the listing: the next pass (its watcher event, or the re-scan) lists it as absent.
          if (await vanished(path)) continue;
          const message = `cannot read table definition file ${path}: ${(error as Error).message}`;
          if (this.unreadable.get(path) !== message) {
            this.unreadable.set(path, message);
            unreadable.push({ source: path, error: message });
          }
          continue;
        }
      }
      if (current === undefined) {
        this.unsettled.delete(path);
        const wasUnreadable = this.unreadable.delete(path);
        if (this.known.delete(path) || wasUnreadable) batch.removed.push(path);
        continue;
      }
      // Readable again: emit it even if unchanged, so its reported read error is cleared.
      const wasUnreadable = this.unreadable.delete(path);
      const hash = createHash('sha256').update(current.text).digest('hex');
      if (this.known.get(path)?.hash === hash && !wasUnreadable) {
        this.known.set(path, { version: current.version, hash });
        this.unsettled.delete(path);
        continue;
      }
      if (options.waitForBrokenFiles && !isCompleteJson(current.text) && this.unsettled.get(path) !== hash) {
        // Probably still being written: look again once it has had time to settle.
        this.unsettled.set(path, hash);
        const timer = setTimeout(() => {
          this.settleTimers.delete(timer);
          this.markDirty(path);
        }, this.settleMs);
        this.settleTimers.add(timer);
        continue;
      }
      this.unsettled.delete(path);
      this.known.set(path, { version: current.version, hash });
      batch.changed.push(current);
    }
    if (unreadable.length > 0) batch.unreadable = unreadable;
    if (!this.stopped && (batch.changed.length > 0 || batch.removed.length > 0 || unreadable.length > 0)) this.emit('batch', batch);
  }

  private async versionOf(path: string): Promise<string | undefined> {
    try {
      const info = await stat(path);
      return info.isFile() ? info.mtime.toISOString() : undefined;
    } catch {
      return undefined;
    }
  }

  /** The file's text and version, or undefined when it is no longer a regular file; throws when it cannot be read. */
  private async read(path: string): Promise<DefinitionText | undefined> {
    const info = await stat(path);
    if (!info.isFile()) return undefined;
    const text = await readFile(path, 'utf8');
    const directory = dirname(path);
    return {
      source: path,
      text,
      version: info.mtime.toISOString(),
      readRelativeFile: (relativePath) => readFileSync(resolve(directory, relativePath), 'utf8'),
      readRelativeBytes: (relativePath) => readFileSync(resolve(directory, relativePath)),
    };
  }
}

/** True when nothing is at the path any more (as opposed to a dangling symlink or an unreadable file). */
async function vanished(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function isCompleteJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
