import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import {
  isDefinitionFileName,
  type DefinitionBatch,
  type DefinitionSource,
  type DefinitionSourceEvents,
  type DefinitionText,
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

/**
 * Table definitions from the `*.json` files directly in a directory, watched with chokidar and re-scanned
 * periodically. Emits one batch per burst of changes.
 */
export class DirectorySource extends EventEmitter<DefinitionSourceEvents> implements DefinitionSource {
  readonly location: string;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly known = new Map<string, Known>();
  /** Broken files waiting to settle: path → hash of the broken text. */
  private readonly unsettled = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private watcher: FSWatcher | undefined;
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
    await this.rescan({ waitForBrokenFiles: false });

    const root = resolve(this.location);
    this.watcher = watch(this.location, {
      ignoreInitial: true,
      depth: 0,
      usePolling: this.options.usePolling ?? false,
      ignored: (path, stats) => resolve(path) !== root && (stats?.isDirectory() === true || !isDefinitionFileName(basename(path))),
    });
    for (const event of ['add', 'change', 'unlink'] as const) {
      this.watcher.on(event, (path: string) => this.markDirty(join(this.location, basename(path))));
    }
    this.watcher.on('error', (error) => this.emit('error', error instanceof Error ? error : new Error(String(error))));
    await new Promise<void>((ready) => this.watcher?.once('ready', () => ready()));
    this.rescanTimer = setInterval(() => {
      this.enqueue(() => this.rescan({ waitForBrokenFiles: true }));
    }, this.options.rescanIntervalMs);
    this.rescanTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    for (const timer of this.settleTimers) clearTimeout(timer);
    await this.watcher?.close();
    await this.flushing;
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
    await this.readAndEmit(paths, { waitForBrokenFiles: true });
  }

  private async rescan(options: { waitForBrokenFiles: boolean }): Promise<void> {
    if (this.stopped) return;
    let entries;
    try {
      entries = await readdir(this.location, { withFileTypes: true });
    } catch (error) {
      // Keep serving what was loaded: a vanished mount should not drop every table.
      this.emit('error', new Error(`table definition directory ${this.location} cannot be read (${(error as NodeJS.ErrnoException).code})`));
      return;
    }
    const present = new Set(entries.filter((e) => !e.isDirectory() && isDefinitionFileName(e.name)).map((e) => join(this.location, e.name)));
    const candidates = new Set([...present, ...this.known.keys()]);
    const toRead: string[] = [];
    for (const path of candidates) {
      if (!present.has(path)) {
        toRead.push(path);
        continue;
      }
      const version = await this.versionOf(path);
      if (version === undefined || version !== this.known.get(path)?.version || this.unsettled.has(path)) toRead.push(path);
    }
    await this.readAndEmit(toRead, options);
  }

  private async readAndEmit(paths: string[], options: { waitForBrokenFiles: boolean }): Promise<void> {
    if (this.stopped) return;
    const batch: DefinitionBatch = { changed: [], removed: [] };
    for (const path of paths) {
      const current = await this.read(path);
      if (current === undefined) {
        this.unsettled.delete(path);
        if (this.known.delete(path)) batch.removed.push(path);
        continue;
      }
      const hash = createHash('sha256').update(current.text).digest('hex');
      if (this.known.get(path)?.hash === hash) {
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
    if (!this.stopped && (batch.changed.length > 0 || batch.removed.length > 0)) this.emit('batch', batch);
  }

  private async versionOf(path: string): Promise<string | undefined> {
    try {
      const info = await stat(path);
      return info.isFile() ? info.mtime.toISOString() : undefined;
    } catch {
      return undefined;
    }
  }

  /** The file's text and version, or undefined when it is gone. */
  private async read(path: string): Promise<DefinitionText | undefined> {
    try {
      const info = await stat(path);
      if (!info.isFile()) return undefined;
      const text = await readFile(path, 'utf8');
      const directory = dirname(path);
      return {
        source: path,
        text,
        version: info.mtime.toISOString(),
        readRelativeFile: (relativePath) => readFileSync(resolve(directory, relativePath), 'utf8'),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
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
