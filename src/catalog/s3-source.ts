import { EventEmitter } from 'node:events';
import { GetObjectCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  isDefinitionFileName,
  type DefinitionBatch,
  type DefinitionSource,
  type DefinitionSourceEvents,
  type DefinitionText,
  type UnreadableDefinition,
} from './definition-source.js';

export interface S3Location {
  bucket: string;
  /** Empty, or ending in `/`. */
  prefix: string;
}

/** Splits `s3://bucket/prefix`; a prefix is treated as a folder (`/` appended), so `tables` does not match `tables-old/`. */
export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/\s]+)(?:\/(.*))?$/i.exec(uri.trim());
  if (!match?.[1]) throw new Error(`"${uri}" is not an S3 location; expected s3://bucket/prefix`);
  const prefix = match[2] ?? '';
  return { bucket: match[1], prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

export interface S3ClientSettings {
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** An S3 client as kinesql builds them: HTTP/1.1 (DESIGN §5), path-style addressing for S3 stand-ins. */
export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    region: settings.region,
    requestHandler: new NodeHttpHandler(),
    forcePathStyle: true,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    ...(settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
  });
}

export interface S3SourceOptions {
  client: S3Client;
  pollIntervalMs: number;
  /** GetObject calls in flight at once. */
  concurrency?: number;
  /** Destroy the client on stop() (when the source created it for itself). */
  destroyClientOnStop?: boolean;
}

/**
 * Table definitions from the `*.json` objects under an S3 prefix (sub-prefixes included, as the Trino connector
 * read them). Polls ListObjectsV2 (all pages) and fetches only objects whose ETag changed.
 *
 * An object is removed only when a complete listing succeeds without it. While listing fails the source
 * reports `unavailable` once (and again if the error changes) and keeps everything.
 */
export class S3Source extends EventEmitter<DefinitionSourceEvents> implements DefinitionSource {
  readonly location: string;
  private readonly target: S3Location;
  /** source URI → ETag of what was last emitted */
  private readonly known = new Map<string, string>();
  /** Listed objects whose GetObject failed → the error last reported for them. */
  private readonly unreadable = new Map<string, string>();
  /** Why the prefix cannot be listed, while it cannot. */
  private unavailable: string | undefined;
  /** Until the first listing succeeds, a failing one fails start() instead. */
  private listedOnce = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    uri: string,
    private readonly options: S3SourceOptions,
  ) {
    super();
    this.location = uri;
    this.target = parseS3Uri(uri);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.listedOnce = false;
    await this.poll();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    if (this.options.destroyClientOnStop === true) this.options.client.destroy();
  }

  /**
   * One poll now (also what the timer runs). Only a failing first listing (start) throws; later listing
   * failures are reported as `unavailable`, and unexpected errors of a scheduled poll are emitted.
   */
  async poll(): Promise<void> {
    const run = this.polling.then(() => this.pollOnce());
    this.polling = run.catch(() => undefined);
    await run;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch((error: unknown) => this.emit('error', error instanceof Error ? error : new Error(String(error))))
        .finally(() => this.schedule());
    }, this.options.pollIntervalMs);
    this.timer.unref();
  }

  private uriOf(key: string): string {
    return `s3://${this.target.bucket}/${key}`;
  }

  private async pollOnce(): Promise<void> {
    if (this.stopped) return;
    let listed: _Object[];
    try {
      listed = await this.list();
    } catch (error) {
      if (!this.listedOnce) throw error;
      const failure = error instanceof Error ? error : new Error(String(error));
      if (!this.stopped && failure.message !== this.unavailable) {
        this.unavailable = failure.message;
        this.emit('unavailable', failure);
      }
      return;
    }
    this.listedOnce = true;
    if (this.stopped) return;
    if (this.unavailable !== undefined) {
      this.unavailable = undefined;
      this.emit('available');
    }
    const present = new Map<string, string>();
    for (const object of listed) {
      if (object.Key === undefined || !isDefinitionFileName(object.Key.slice(object.Key.lastIndexOf('/') + 1))) continue;
      present.set(object.Key, object.ETag ?? '');
    }
    const batch: DefinitionBatch = { changed: [], removed: [] };
    for (const source of new Set([...this.known.keys(), ...this.unreadable.keys()])) {
      if (!present.has(source.slice(`s3://${this.target.bucket}/`.length))) batch.removed.push(source);
    }
    const stale = [...present].filter(([key, etag]) => this.known.get(this.uriOf(key)) !== etag).map(([key]) => key);
    const fetched = await mapWithConcurrency(stale, this.options.concurrency ?? 8, (key) => this.fetch(key));
    const unreadable: UnreadableDefinition[] = [];
    for (const result of fetched) {
      if (result === undefined) continue;
      if ('error' in result) {
        // Stays at its old version (ETag not recorded), so the next poll tries again; reported once per error.
        if (this.unreadable.get(result.source) !== result.error) unreadable.push(result);
      } else {
        batch.changed.push(result);
      }
    }
    if (this.stopped) return;
    for (const source of batch.removed) {
      this.known.delete(source);
      this.unreadable.delete(source);
    }
    for (const change of batch.changed) {
      this.known.set(change.source, change.version);
      this.unreadable.delete(change.source);
    }
    for (const problem of unreadable) this.unreadable.set(problem.source, problem.error);
    if (unreadable.length > 0) batch.unreadable = unreadable;
    if (batch.changed.length > 0 || batch.removed.length > 0 || unreadable.length > 0) this.emit('batch', batch);
  }

  private async list(): Promise<_Object[]> {
    const objects: _Object[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.options.client
        .send(
          new ListObjectsV2Command({
            Bucket: this.target.bucket,
            Prefix: this.target.prefix,
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
          }),
        )
        .catch((error: Error) => {
          throw new Error(`cannot list ${this.location}: ${error.name}: ${error.message}`, { cause: error });
        });
      objects.push(...(page.Contents ?? []));
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
    return objects;
  }

  private async fetch(key: string): Promise<DefinitionText | UnreadableDefinition | undefined> {
    try {
      const response = await this.options.client.send(new GetObjectCommand({ Bucket: this.target.bucket, Key: key }));
      const text = (await response.Body?.transformToString('utf8')) ?? '';
      return { source: this.uriOf(key), text, version: response.ETag ?? '' };
    } catch (error) {
      // Deleted between listing and reading: the next listing reports it removed.
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      return { source: this.uriOf(key), error: `cannot read ${this.uriOf(key)}: ${(error as Error).name}: ${(error as Error).message}` };
    }
  }
}

async function mapWithConcurrency<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
