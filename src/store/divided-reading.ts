/**
 * How kinesql servers on one engine divide the reading of the streams (polling with the follower on, or enhanced
 * fan-out): the GetRecords budget kept in the engine for all of them (shared-read-budget.ts), shard leases that
 * say whose follower reads each shard and, with enhanced fan-out, who subscribes to it (shard-leases.ts), and
 * reads to the tip recorded in the engine for the servers whose statements wait on them (shard-tip-reads.ts,
 * owner-reads.ts).
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
/**
 * With enhanced fan-out, how long a statement waits for the holder's subscription to deliver an event at the tip
 * made after its start (the holder's own statements wait for that event too) before it polls the shard itself.
 */
const OWNER_PUSH_WAIT_MS = 5_000;

export interface DividedReading {
  /** The GetRecords budget all servers share; none with enhanced fan-out and kinesis.read-budget-share 0. */
  budget: EngineReadBudget | undefined;
  leases: ShardLeases;
  tipReads: TipReads;
  ownerReads: OwnerReads;
  /** The engine tables all of it keeps its state in. */
  createTables(): Promise<void>;
}

/** Undefined when the servers do not divide the reading: polling without the follower. */
export function divideReading(engine: Engine, scan: ScanConfig, tables: () => StreamTable[], logger: Logger): DividedReading | undefined {
  const fanOut = scan.consumerMode === 'efo';
  if (scan.readBudgetShare <= 0 && !fanOut) return undefined;
  const rate = CALLS_PER_SECOND * scan.readBudgetShare;
  const leases = new ShardLeases(engine, tables, { durationMs: scan.leaseDurationMs }, logger.child({ part: 'leases' }));
  const tipReads = new TipReads(engine);
  return {
    budget: rate > 0 ? new EngineReadBudget(engine, rate, burstFor(rate), logger) : undefined,
    leases,
    tipReads,
    ownerReads: new OwnerReads(tipReads, leases, {
      pollMs: OWNER_READ_POLL_MS,
      maxWaitMs: fanOut ? OWNER_PUSH_WAIT_MS : (OWNER_READ_WAIT_INTERVALS * 1000) / rate,
    }),
    async createTables() {
      await createSharedBudgetTable(engine);
      await createLeaseTables(engine);
      await createTipReadTable(engine);
    },
  };
}
