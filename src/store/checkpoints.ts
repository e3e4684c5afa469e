import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Per shard, the sequence number of the last record an iteration saw. */
export type ShardPositions = Record<string, string>;

type CheckpointFile = Record<string, Record<string, Record<string, ShardPositions>>>;

/**
 * The seed's incremental mode: with `checkpoint_enabled`, a statement of iteration N under a logical name
 * sees only records after the checkpoint that iteration N − 1 left, and leaves its own for iteration N + 1.
 * The seed kept checkpoints in DynamoDB; kinesql keeps them in a JSON file in its data directory
 * (logical name → iteration → "schema.table" → shard → sequence number), written atomically.
 */
export class CheckpointStore {
  private loaded: Promise<CheckpointFile> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  private all(): Promise<CheckpointFile> {
    this.loaded ??= readFile(this.file, 'utf8')
      .then(
        (text) => JSON.parse(text) as CheckpointFile,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return {};
          throw error;
        },
      )
      .catch((error: unknown) => {
        // Read again next time rather than failing every later statement on one bad read.
        this.loaded = undefined;
        throw error;
      });
    return this.loaded;
  }

  async get(logicalName: string, iteration: number, table: string): Promise<ShardPositions | undefined> {
    return (await this.all())[logicalName]?.[String(iteration)]?.[table];
  }

  async put(logicalName: string, iteration: number, table: string, positions: ShardPositions): Promise<void> {
    const all = await this.all();
    const iterations = (all[logicalName] ??= {});
    const tables = (iterations[String(iteration)] ??= {});
    tables[table] = positions;
    const text = JSON.stringify(all, null, 1);
    this.writing = this.writing.catch(() => undefined).then(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const staging = `${this.file}.${process.pid}.tmp`;
      await writeFile(staging, text);
      await rename(staging, this.file);
    });
    await this.writing;
  }
}
