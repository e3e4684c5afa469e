/**
 * How kinesql servers on one engine divide the reading of the streams (polling with the follower on): the
 * GetRecords budget kept in the engine for all of them (shared-read-budget.ts), shard leases that say whose
 * follower reads each shard (shard-leases.ts), and reads to the tip recorded in the engine for the servers
 * whose statements wait on them (shard-tip-reads.ts, owner-reads.ts).
 */
import type { Logger } from 'pino';
import type { ScanConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import { burstFor, CALLS_PER_SECOND } from '../kinesis/rate-budget.js';
import { OwnerReads } from './owner-reads.js';
import { EngineReadBudget, createSharedBudgetTable } from './shared-read-budget.js';
import { createLeaseTables, ShardLeases } from './shard-leases.js';
import { createTipReadTable, TipReads } from './shard-tip-reads.js';
import type { StreamTable } from './stream-table.js';

/** How often a statement waiting for an owner's read looks in the engine. */
const OWNER_READ_POLL_MS = 50;
/** A statement waits for an owner's read up to this many of the shard's call intervals, then reads itself. */
const OWNER_READ_WAIT_INTERVALS = 3;

export interface DividedReading {
  budget: EngineReadBudget;
  leases: ShardLeases;
  tipReads: TipReads;
  ownerReads: OwnerReads;
  /** The engine tables all of it keeps its state in. */
  createTables(): Promise<void>;
}

/** Undefined when the servers do not divide the reading: without the follower, or with enhanced fan-out. */
export function divideReading(engine: Engine, scan: ScanConfig, tables: () => StreamTable[], logger: Logger): DividedReading | undefined {
  if (scan.readBudgetShare <= 0 || scan.consumerMode !== 'polling') return undefined;
  const rate = CALLS_PER_SECOND * scan.readBudgetShare;
  const leases = new ShardLeases(engine, tables, { durationMs: scan.leaseDurationMs }, logger.child({ part: 'leases' }));
  const tipReads = new TipReads(engine);
  return {
    budget: new EngineReadBudget(engine, rate, burstFor(rate), logger),
    leases,
    tipReads,
    ownerReads: new OwnerReads(tipReads, leases, { pollMs: OWNER_READ_POLL_MS, maxWaitMs: (OWNER_READ_WAIT_INTERVALS * 1000) / rate }),
    async createTables() {
      await createSharedBudgetTable(engine);
      await createLeaseTables(engine);
      await createTipReadTable(engine);
    },
  };
}
