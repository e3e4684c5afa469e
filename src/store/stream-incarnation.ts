/**
 * Which stream a table's rows came from. A stream deleted and created again under the same name is a new
 * stream: its shards have the old names but new records and sequence numbers. When the stream changes, the
 * old one's rows and positions are dropped and the new one is read from the table's start; while the stream
 * is gone, what was loaded stays readable and the table says since when the stream is missing.
 */
import type { KinesisClient } from '../kinesis/client.js';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { RetryPolicy } from '../kinesis/retry.js';
import { describeIncarnation, sameIncarnation, type StreamIncarnation } from '../kinesis/shard-listing.js';
import { lockDefinition, replaceIncarnation, saveIncarnation, storedIncarnation } from './shard-positions.js';

export type IncarnationCheck = 'same' | 'replaced' | 'deleted';

/** Statements reading a table are told that its stream was replaced for this long after it was noticed. */
const RECREATION_NOTICE_MS = 10 * 60_000;

/** What happened to the stream last: kinesql.streams and NOTICEs tell it. */
interface StreamChange {
  kind: 'deleted' | 'recreated';
  at: Date;
  /** Rows of the previous stream this server dropped (undefined: another server on the engine dropped them). */
  droppedRows?: number;
}

function droppedText(change: StreamChange): string {
  return change.droppedRows === undefined ? 'the records' : `the ${change.droppedRows} records`;
}

export function isStreamMissing(error: unknown): boolean {
  return (error as { name?: string }).name === 'ResourceNotFoundException';
}

export class StreamIncarnations {
  /** The stream the table's rows came from, as the engine records it; undefined until first looked at. */
  private known: StreamIncarnation | undefined;
  private change: StreamChange | undefined;

  constructor(
    private readonly key: string,
    private readonly tableName: string,
    private readonly streamName: string,
    private readonly engine: Engine,
    private readonly logger: Logger,
  ) {}

  /** Whether the stream was found missing at the last look. */
  get deleted(): boolean {
    return this.change?.kind === 'deleted';
  }

  /**
   * Asks Kinesis which stream the name stands for now. 'replaced': the table held another stream's rows and
   * they are gone (dropped by this server, or by another one on the same engine); its shards must be read
   * afresh. 'deleted': there is no such stream now.
   */
  async check(client: KinesisClient, retry: RetryPolicy): Promise<IncarnationCheck> {
    let now: StreamIncarnation;
    try {
      now = await describeIncarnation(client, this.streamName, retry);
    } catch (error) {
      if (!isStreamMissing(error)) throw error;
      // A stream the table never read from is not "deleted": reading it fails as for any name Kinesis does not know.
      this.known ??= await storedIncarnation(this.engine, this.key);
      if (this.known === undefined) throw error;
      if (!this.deleted) {
        this.change = { kind: 'deleted', at: new Date() };
        this.logger.warn({ table: this.tableName, stream: this.streamName }, 'the Kinesis stream is gone; the table keeps what was loaded of it');
      }
      return 'deleted';
    }
    if (this.deleted) this.change = undefined;
    this.known ??= await storedIncarnation(this.engine, this.key);
    if (this.known && sameIncarnation(this.known, now)) return 'same';
    const previous = this.known;
    const dropped = await this.engine.transaction(async (tx) => {
      // One kinesql server on the engine drops the old rows; the others find the new stream recorded.
      await lockDefinition(tx, this.key);
      const stored = await storedIncarnation(tx, this.key);
      if (stored && sameIncarnation(stored, now)) return undefined;
      if (!stored) {
        // Recorded for the first time: the rows are this stream's (or the table was built before kinesql recorded streams).
        await saveIncarnation(tx, this.key, now);
        return undefined;
      }
      return replaceIncarnation(tx, this.key, this.tableName, now);
    });
    this.known = now;
    if (previous === undefined && dropped === undefined) return 'same';
    this.change = { kind: 'recreated', at: new Date(), ...(dropped !== undefined ? { droppedRows: dropped } : {}) };
    this.logger.warn(
      {
        table: this.tableName,
        stream: this.streamName,
        created: now.createdAt.toISOString(),
        previouslyCreated: previous?.createdAt.toISOString() ?? null,
        droppedRows: dropped ?? 'dropped by another kinesql server',
      },
      "the Kinesis stream was deleted and created again: the previous stream's rows are dropped and the new stream is read from the table's start",
    );
    return 'replaced';
  }

  /** A NOTICE for statements that read the table: the stream is gone, or was replaced a short while ago. */
  notice(rows: number): string | undefined {
    const change = this.change;
    if (change?.kind === 'deleted') {
      return `Kinesis stream "${this.streamName}" does not exist (missing since ${change.at.toISOString()}): ${this.tableName} shows the ${rows} records loaded before`;
    }
    if (change?.kind === 'recreated' && Date.now() - change.at.getTime() < RECREATION_NOTICE_MS) {
      return `Kinesis stream "${this.streamName}" was deleted and created again (noticed ${change.at.toISOString()}): ${droppedText(change)} of the previous stream were dropped from ${this.tableName}`;
    }
    return undefined;
  }

  /** kinesql.streams' stream_status. */
  status(): string {
    const change = this.change;
    if (change?.kind === 'deleted') return `deleted (missing since ${change.at.toISOString()}); showing what was loaded before`;
    if (change?.kind === 'recreated') return `active; recreated (noticed ${change.at.toISOString()}, ${droppedText(change)} of the previous stream dropped)`;
    return this.known ? 'active' : 'not read yet';
  }

  /** kinesql.streams' stream_created. */
  get createdAt(): Date | undefined {
    return this.known?.createdAt;
  }
}
