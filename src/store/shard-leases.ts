/**
 * Shard leases: kinesql servers on one engine divide the following of each table's shards among themselves,
 * as the KCL's lease table does. Each server holds a row of its own while it lives (renewed every renew
 * interval, gone when it has not been renewed for the lease duration), and each (table, shard) row names one
 * owner and when its lease ends. A round, under one engine lock for all servers, renews the server's leases,
 * takes free and expired ones up to its fair share of each table's shards, and takes from servers holding more
 * than theirs. Only the owner's follower reads a shard; other servers' statements wait for its reads.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { STATE_SCHEMA, tableKey } from '../engine/roles.js';
import type { StreamTable } from './stream-table.js';

const HOLDERS = `${STATE_SCHEMA}.lease_holders`;
const LEASES = `${STATE_SCHEMA}.shard_leases`;
const POSITIONS = `${STATE_SCHEMA}.shard_positions`;
/** A renewal every third of the duration: two may fail before the leases run out. */
const RENEWALS_PER_DURATION = 3;

export async function createLeaseTables(engine: Engine): Promise<void> {
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${HOLDERS} (server_id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,
       started_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)`);
  // Kept from an older kinesql, the table may lack the client port that names a server to operators.
  await engine.exec(`ALTER TABLE ${HOLDERS} ADD COLUMN IF NOT EXISTS port integer`);
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${LEASES} (table_key text NOT NULL, shard_id text NOT NULL,
       parent_ids text[] NOT NULL DEFAULT '{}', owner text, expires_at timestamptz, PRIMARY KEY (table_key, shard_id))`);
}

export function renewIntervalMs(durationMs: number): number {
  return Math.max(1, Math.floor(durationMs / RENEWALS_PER_DURATION));
}

/** One lease as a round finds it. */
interface LeaseRow {
  table: string;
  shardId: string;
  /** The owner while its lease runs and its server lives. */
  holder: string | undefined;
}

/**
 * How many of n shards the server ranked `rank` of m aims for: n / m, the remainder going one each to the
 * first servers, counted from a place that differs per table so the same servers do not get every remainder.
 */
export function fairShare(n: number, m: number, rank: number, table: string): number {
  let offset = 0;
  for (const char of table) offset = (offset * 31 + char.charCodeAt(0)) % m;
  const place = (rank - offset + m) % m;
  return Math.floor(n / m) + (place < n % m ? 1 : 0);
}

/**
 * Which leases `me` takes in one table: free ones first, then from servers above their fair share, one at a
 * time from the one furthest above it, until `me` has its own share.
 */
export function leasesToTake(rows: LeaseRow[], live: string[], me: string, table: string): LeaseRow[] {
  const share = (server: string): number => fairShare(rows.length, live.length, live.indexOf(server), table);
  const held = new Map<string, LeaseRow[]>();
  for (const row of rows) if (row.holder !== undefined) held.set(row.holder, [...(held.get(row.holder) ?? []), row]);
  let need = share(me) - (held.get(me)?.length ?? 0);
  const taken: LeaseRow[] = [];
  for (const row of rows) {
    if (need <= 0) break;
    if (row.holder !== undefined) continue;
    taken.push(row);
    need -= 1;
  }
  while (need > 0) {
    let richest: string | undefined;
    let excess = 0;
    for (const [server, leases] of held) {
      const over = leases.length - share(server);
      if (server !== me && over > excess) [richest, excess] = [server, over];
    }
    if (richest === undefined) break;
    taken.push(held.get(richest)!.pop()!);
    need -= 1;
  }
  return taken;
}

/** Who holds a shard's lease now, as operators see it (kinesql.shards). */
export interface LeaseHolding {
  /** The holding server as `host:port/pid` (its client port; `host/pid` for a server that did not record one). */
  holder: string;
  expiresAt: Date;
}

/** The key of a shard in the maps of holders (ShardLeases.holdings). */
export function leaseKey(table: string, shardId: string): string {
  return `${table}\u0000${shardId}`;
}

export interface LeaseOptions {
  /** kinesql.lease-duration: a lease not renewed for this long (ms) may be taken over. */
  durationMs: number;
}

export class ShardLeases {
  readonly serverId = randomUUID();
  readonly renewMs: number;
  /** Per table key, the shards this server follows. */
  private owned = new Map<string, Set<string>>();
  /** Per table key and shard, the server that holds its lease (another's or this one's). */
  private holders = new Map<string, string>();
  /**
   * Per leaseKey, leases this server took from a live server, and when it begins to follow them: one renew
   * interval on, when the previous holder's own round has seen them go and it stopped reading them.
   */
  private handovers = new Map<string, number>();
  private readonly roundListeners = new Set<() => void>();
  /** What the last round found holds until then (this server's clock): past it, this server owns nothing. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private failing = false;
  /** The port this server's clients connect to: with the host and pid, how operators tell the servers apart. */
  private clientPort: number | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly tables: () => StreamTable[],
    private readonly options: LeaseOptions,
    private readonly logger: Logger,
  ) {
    this.renewMs = renewIntervalMs(options.durationMs);
  }

  /** Runs the first round, then one every renew interval. */
  async start(clientPort: number): Promise<void> {
    this.clientPort = clientPort;
    await this.round();
    this.schedule();
  }

  /** Runs a round now, after the one under way (once started, until stopped): shards just listed get their leases. */
  renewNow(): Promise<void> {
    if (this.clientPort === undefined || this.stopped) return Promise.resolve();
    this.running = this.running.then(() => this.round());
    return this.running;
  }

  /** The shards of the table this server follows now. */
  ownedShards(table: StreamTable): string[] {
    const now = Date.now();
    const key = tableKey(table.definition);
    return [...(this.owned.get(key) ?? [])].filter((shardId) => this.follows(key, shardId, now));
  }

  /** Whether this server follows the shard now: with enhanced fan-out, whether it subscribes to it. */
  holds(table: StreamTable, shardId: string): boolean {
    const key = tableKey(table.definition);
    return (this.owned.get(key)?.has(shardId) ?? false) && this.follows(key, shardId, Date.now());
  }

  /** A lease this server holds is followed while the last round's word stands and once its handover is over. */
  private follows(key: string, shardId: string, now: number): boolean {
    return now < this.validUntil && (this.handovers.get(leaseKey(key, shardId)) ?? 0) <= now;
  }

  /** Called after each round that renewed the leases (the shards this server follows may have changed). */
  onRound(listener: () => void): () => void {
    this.roundListeners.add(listener);
    return () => this.roundListeners.delete(listener);
  }

  /** Whether another live server holds the shard's lease (its follower reads the shard). */
  ownedElsewhere(table: StreamTable, shardId: string): boolean {
    if (Date.now() >= this.validUntil) return false;
    const holder = this.holders.get(leaseKey(tableKey(table.definition), shardId));
    return holder !== undefined && holder !== this.serverId;
  }

  /**
   * Every lease that runs now, as the engine has it, by leaseKey: a lease that expired, or was handed back,
   * has no holder until another server's round takes it.
   */
  async holdings(tx: EngineTransaction): Promise<Map<string, LeaseHolding>> {
    const { rows } = await tx.query(
      `SELECT l.table_key, l.shard_id, l.expires_at,
              coalesce(h.host || coalesce(':' || h.port, '') || '/' || h.pid, l.owner) AS holder
         FROM ${LEASES} l LEFT JOIN ${HOLDERS} h ON h.server_id = l.owner
        WHERE l.owner IS NOT NULL AND l.expires_at > clock_timestamp()`,
    );
    return new Map(
      rows.map((row) => [
        leaseKey(String(row['table_key']), String(row['shard_id'])),
        { holder: String(row['holder']), expiresAt: new Date(row['expires_at'] as Date) },
      ]),
    );
  }

  /** Stops renewing and hands the leases back, so other servers take them at their next round. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    this.validUntil = 0;
    await this.engine
      .transaction(async (tx) => {
        await tx.query(`UPDATE ${LEASES} SET owner = NULL, expires_at = NULL WHERE owner = $1`, [this.serverId]);
        await tx.query(`DELETE FROM ${HOLDERS} WHERE server_id = $1`, [this.serverId]);
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not hand the shard leases back; they expire on their own'));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // After a round renewNow began: one round at a time, so the last to end has the latest leases.
      this.running = this.running.then(() => this.round()).finally(() => this.schedule());
    }, this.renewMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const startedAt = Date.now();
    try {
      // A round lost in an engine crash is made again at the next one: it need not wait for the disk.
      const { owned, holders } = await this.engine.transaction((tx) => this.renewAndBalance(tx), { asynchronousCommit: true });
      this.owned = owned;
      this.holders = holders;
      this.validUntil = startedAt + this.options.durationMs;
      for (const listener of this.roundListeners) listener();
      if (this.failing) this.logger.info('shard leases renewed again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn({ err: error }, 'could not renew the shard leases; this server follows no shard once they run out');
      this.failing = true;
    }
  }

  private async renewAndBalance(tx: EngineTransaction): Promise<{ owned: Map<string, Set<string>>; holders: Map<string, string> }> {
    const me = this.serverId;
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('kinesql.shard-leases'))`);
    const duration = `$2 * interval '1 millisecond'`;
    await tx.query(
      `INSERT INTO ${HOLDERS} (server_id, host, pid, port, expires_at) VALUES ($1, $3, $4, $5, clock_timestamp() + ${duration})
       ON CONFLICT (server_id) DO UPDATE SET expires_at = excluded.expires_at`,
      [me, this.options.durationMs, hostname(), process.pid, this.clientPort ?? null],
    );
    await tx.query(`DELETE FROM ${HOLDERS} WHERE expires_at < clock_timestamp()`);
    await tx.query(`UPDATE ${LEASES} SET expires_at = clock_timestamp() + ${duration} WHERE owner = $1`, [me, this.options.durationMs]);
    const live = (await tx.query(`SELECT server_id FROM ${HOLDERS} ORDER BY server_id`)).rows.map((row) => String(row['server_id']));
    const served = this.tables();
    const known = served.flatMap((table) =>
      table.shardStatus().map((shard) => ({
        table: tableKey(table.definition),
        shard: shard.shardId,
        parents: [shard.parentShardId, shard.adjacentParentShardId].filter((id): id is string => id !== undefined),
      })),
    );
    if (known.length > 0) {
      await tx.query(
        `INSERT INTO ${LEASES} (table_key, shard_id, parent_ids)
         SELECT s->>'table', s->>'shard', ARRAY(SELECT jsonb_array_elements_text(s->'parents')) FROM jsonb_array_elements($1::jsonb) s
         ON CONFLICT (table_key, shard_id) DO NOTHING`,
        [JSON.stringify(known)],
      );
    }
    // A shard is leased while it has records to follow: not read to its end, and its parents (when known) are.
    const { rows } = await tx.query(
      `SELECT l.table_key, l.shard_id, CASE WHEN l.expires_at > clock_timestamp() AND l.owner = ANY($2::text[]) THEN l.owner END AS holder
         FROM ${LEASES} l
        WHERE l.table_key = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM ${POSITIONS} p WHERE p.table_key = l.table_key AND p.shard_id = l.shard_id AND p.closed_and_read)
          AND NOT EXISTS (SELECT 1 FROM unnest(l.parent_ids) AS parent(id)
                           WHERE EXISTS (SELECT 1 FROM ${LEASES} pl WHERE pl.table_key = l.table_key AND pl.shard_id = parent.id)
                             AND NOT EXISTS (SELECT 1 FROM ${POSITIONS} pp WHERE pp.table_key = l.table_key AND pp.shard_id = parent.id AND pp.closed_and_read))
        ORDER BY l.table_key, l.shard_id`,
      [served.map((table) => tableKey(table.definition)), live],
    );
    const byTable = new Map<string, LeaseRow[]>();
    for (const row of rows) {
      const lease: LeaseRow = {
        table: String(row['table_key']),
        shardId: String(row['shard_id']),
        holder: row['holder'] === null ? undefined : String(row['holder']),
      };
      byTable.set(lease.table, [...(byTable.get(lease.table) ?? []), lease]);
    }
    const owned = new Map<string, Set<string>>();
    const holders = new Map<string, string>();
    for (const [key, from] of this.handovers) if (from <= Date.now()) this.handovers.delete(key);
    for (const [table, leases] of byTable) {
      const taken = leasesToTake(leases, live, me, table);
      for (const lease of taken) {
        if (lease.holder !== undefined) this.handovers.set(leaseKey(table, lease.shardId), Date.now() + this.renewMs);
        await tx.query(
          `UPDATE ${LEASES} SET owner = $3, expires_at = clock_timestamp() + $4 * interval '1 millisecond' WHERE table_key = $1 AND shard_id = $2`,
          [lease.table, lease.shardId, me, this.options.durationMs],
        );
        lease.holder = me;
      }
      if (taken.length > 0) this.logger.info({ table, shards: taken.map((lease) => lease.shardId) }, 'took shard leases');
      for (const lease of leases) {
        if (lease.holder === undefined) continue;
        holders.set(leaseKey(table, lease.shardId), lease.holder);
        if (lease.holder === me) owned.set(table, (owned.get(table) ?? new Set()).add(lease.shardId));
      }
    }
    return { owned, holders };
  }
}
