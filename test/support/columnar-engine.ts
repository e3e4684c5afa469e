import { existsSync } from 'node:fs';
import pg from 'pg';
import { externalPostgresBinaries, startExternalPostgres, type ExternalPostgres } from './external-postgres.js';

const COLUMNAR_LIBRARY = '/usr/lib/postgresql/15/lib/citus_columnar.so';

/** Whether Debian's PostgreSQL 15 is installed with Citus's columnar access method. */
export const hasColumnar = externalPostgresBinaries() !== undefined && existsSync(COLUMNAR_LIBRARY);

/** The stream table the columnar tests read: a number and a word per record. */
export const ticksDefinitions = {
  'ticks.json': {
    tableName: 'ticks',
    streamName: 'ticks',
    message: {
      dataFormat: 'json',
      fields: [
        { name: 'n', type: 'INTEGER', mapping: 'n' },
        { name: 'word', type: 'VARCHAR', mapping: 'word' },
      ],
    },
  },
};

/** A PostgreSQL 15 engine with citus_columnar in kinesql's database, and a superuser client on that database. */
export async function startColumnarEngine(): Promise<{ engine: ExternalPostgres; admin: pg.Client }> {
  const engine = await startExternalPostgres();
  const admin = new pg.Client({ connectionString: engine.adminUrl, database: new URL(engine.url).pathname.slice(1) });
  await admin.connect();
  // Installed by an administrator (it takes a superuser); kinesql uses it when it is there.
  await admin.query('CREATE EXTENSION citus_columnar');
  return { engine, admin };
}

export interface StoredPartition {
  name: string;
  storage: string;
  /** The partition's upper bound. */
  to: Date;
  rows: number;
}

/**
 * The partitions of `parent`, oldest first, with their access method (heap or columnar) and row count. Each is
 * counted by its name, which a conversion's swap hands from the heap table to its columnar copy at once.
 */
export async function storedPartitions(admin: pg.Client, parent: string): Promise<StoredPartition[]> {
  // A partition kinesql swapped for its columnar copy after the listing's snapshot was taken is gone by the time
  // its bound is printed (pg_get_expr gives NULL for a dropped relation): such a listing is taken again.
  for (let attempt = 1; ; attempt += 1) {
    const partitions = await listedPartitions(admin, parent);
    if (partitions) return partitions;
    if (attempt === 20) throw new Error(`${parent}: a partition without a printable upper bound in 20 listings`);
  }
}

async function listedPartitions(admin: pg.Client, parent: string): Promise<StoredPartition[] | undefined> {
  const { rows } = await admin.query(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, a.amname AS storage,
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS "to"
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
      WHERE i.inhparent = $1::regclass ORDER BY c.relname`,
    [parent],
  );
  if (rows.some((row) => row['to'] === null)) return undefined;
  const partitions: StoredPartition[] = [];
  for (const row of rows) {
    const counted = await admin.query(`SELECT count(*)::int AS n FROM ${String(row['name'])}`);
    partitions.push({ name: String(row['name']), storage: String(row['storage']), to: row['to'] as Date, rows: Number(counted.rows[0]?.['n']) });
  }
  return partitions;
}
