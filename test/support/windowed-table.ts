import { DEFAULT_SCAN_CONFIG, type KinesqlConfig, type ScanConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from './harness.js';

/** Table `ticks` of stream `ticks`: JSON records `{ n }`, n an INTEGER column. */
export const ticksDefinition = {
  tableName: 'ticks',
  streamName: 'ticks',
  message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] },
};

export interface WindowedTicksOptions {
  /** The table's window: records from this long ago (kinesql.iter-from-timestamp and iter-offset-seconds). */
  windowSeconds: number;
  /** The table's definition, `ticksDefinition` unless given. */
  definition?: unknown;
  /** Scan settings other than the partitions of one second and the eviction at every statement, or on top of them. */
  scan?: Partial<ScanConfig>;
  /** Other changes to the configuration. */
  configure?: (config: KinesqlConfig) => KinesqlConfig;
}

/**
 * A harness serving stream `ticks` (two shards) as table `ticks` over a window of seconds, in time partitions of
 * one second evicted at every statement, so that partitions close and expire within a test.
 */
export function startWindowedTicks(options: WindowedTicksOptions): Promise<Harness> {
  const { windowSeconds, definition = ticksDefinition, scan, configure = (config) => config } = options;
  return startHarness({
    streams: [{ name: 'ticks', shards: 2 }],
    definitions: { 'ticks.json': definition },
    configure: (config) =>
      configure({
        ...config,
        read: { ...config.read, iterFromTimestamp: true, iterOffsetSeconds: windowSeconds },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, evictionIntervalMs: 0, partitionIntervalMs: 1000, ...scan },
      }),
  });
}
