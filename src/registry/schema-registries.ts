/**
 * The schema registries a server looks writer schemas up in, and what it knows of them. Decoding is
 * synchronous, lookups are not: a batch's records first say which schemas they need (`fetch`), the unknown
 * ones are looked up together, each within a deadline, and then every record decodes with what is known
 * (`lookup`). A failed lookup is remembered for a while, so a registry that is down costs a statement at
 * most one deadline and then nothing until the lookup is tried again.
 */
import type { Logger } from 'pino';
import type { ConfluentRegistryClient } from './confluent-client.js';
import { refKey, isMoving, type RegistrySchema, type SchemaRef } from './schema-ref.js';

/** Looks a Glue reference up (the SDK client lives in glue-client.ts). */
export type GlueLookup = (ref: SchemaRef & { registry: 'glue' }, signal: AbortSignal) => Promise<RegistrySchema>;

export interface SchemaRegistriesOptions {
  confluent?: ConfluentRegistryClient;
  glue?: GlueLookup;
  /** Glue-framed records are looked up (true); otherwise their framing is skipped and the definition's schema used. */
  glueFramedRecords?: boolean;
  /** A lookup that has not answered after this long (ms) fails. */
  timeoutMs: number;
  /** A failed lookup is tried again after this long (ms); until then it fails at once. */
  retryIntervalMs: number;
  /** A latest version is looked up again after this long (ms), in the background. */
  latestRefreshMs?: number;
  logger?: Logger;
  /** The clock (tests move it). */
  now?: () => number;
}

export type SchemaLookup = { state: 'ready'; schema: RegistrySchema } | { state: 'failed'; error: string } | { state: 'unknown' };

type Entry =
  | { state: 'fetching'; done: Promise<void> }
  | { state: 'ready'; schema: RegistrySchema; fetchedAt: number; refreshing: boolean }
  | { state: 'failed'; error: string; retryAt: number };

const DEFAULT_LATEST_REFRESH_MS = 60_000;

export class SchemaRegistries {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: SchemaRegistriesOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Records with Confluent framing are decoded with the schema their id names. */
  get confluentFraming(): boolean {
    return this.options.confluent !== undefined;
  }

  /** Records with Glue framing are decoded with the schema their version id names. */
  get glueFraming(): boolean {
    return this.options.glueFramedRecords === true && this.options.glue !== undefined;
  }

  /** Where the Confluent registry is (for messages), if one is configured. */
  get confluentUrl(): string | undefined {
    return this.options.confluent?.options.url;
  }

  /** What is known of a schema now, without waiting. */
  lookup(ref: SchemaRef): SchemaLookup {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined || entry.state === 'fetching') return { state: 'unknown' };
    if (entry.state === 'failed') return { state: 'failed', error: entry.error };
    return { state: 'ready', schema: entry.schema };
  }

  /**
   * Looks up the schemas of `refs` that are not known yet (or whose failure is old enough to try again);
   * resolves when those lookups have ended, never rejects. Undefined when there is nothing to wait for.
   */
  fetch(refs: Iterable<SchemaRef>): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const ref of refs) {
      const key = refKey(ref);
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = this.entries.get(key);
      if (entry === undefined || (entry.state === 'failed' && this.now() >= entry.retryAt)) waits.push(this.start(ref, key));
      else if (entry.state === 'fetching') waits.push(entry.done);
      else if (entry.state === 'ready' && isMoving(ref) && !entry.refreshing && this.now() - entry.fetchedAt >= this.latestRefreshMs) {
        this.refresh(ref, key, entry);
      }
    }
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  private get latestRefreshMs(): number {
    return this.options.latestRefreshMs ?? DEFAULT_LATEST_REFRESH_MS;
  }

  private start(ref: SchemaRef, key: string): Promise<void> {
    const done = this.lookUp(ref).then(
      (schema) => {
        this.entries.set(key, { state: 'ready', schema, fetchedAt: this.now(), refreshing: false });
      },
      (error: unknown) => {
        const message = `${key}: ${describeError(error, this.options.timeoutMs)}`;
        this.entries.set(key, { state: 'failed', error: message, retryAt: this.now() + this.options.retryIntervalMs });
        this.options.logger?.warn({ schema: key, problem: message, retryInMs: this.options.retryIntervalMs }, 'schema registry lookup failed');
      },
    );
    this.entries.set(key, { state: 'fetching', done });
    return done;
  }

  /** A latest version is looked up again while the one known goes on being used; a failure keeps it. */
  private refresh(ref: SchemaRef, key: string, entry: Entry & { state: 'ready' }): void {
    entry.refreshing = true;
    this.lookUp(ref).then(
      (schema) => this.entries.set(key, { state: 'ready', schema, fetchedAt: this.now(), refreshing: false }),
      (error: unknown) => {
        entry.refreshing = false;
        entry.fetchedAt = this.now();
        this.options.logger?.warn(
          { schema: key, problem: describeError(error, this.options.timeoutMs) },
          'schema registry refresh failed; the known version stays',
        );
      },
    );
  }

  private lookUp(ref: SchemaRef): Promise<RegistrySchema> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    if (ref.registry === 'confluent') {
      const client = this.options.confluent;
      if (!client) return Promise.reject(new Error('no Confluent Schema Registry is configured (kinesis.schema-registry-url)'));
      return withDeadline(client.fetch(ref, signal), signal);
    }
    const glue = this.options.glue;
    if (!glue) return Promise.reject(new Error('no AWS Glue Schema Registry client is configured'));
    return withDeadline(glue(ref, signal), signal);
  }
}

/** Rejects when the signal fires even if the lookup does not notice it. */
function withDeadline<T>(lookup: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    lookup.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function describeError(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  // fetch() says only "fetch failed"; what failed is in its cause.
  const cause = (error as { cause?: { message?: string } })?.cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.message ? `${message}: ${cause.message}` : message;
}
