import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import type { KinesqlConfig, ScanConfig } from '../config/config.js';
import { createSubscriptionClient } from './client.js';
import { EnhancedFanOut } from './enhanced-fan-out.js';
import { CALLS_PER_SECOND, processRateBudget, ShardRateBudget, type SharedCallBudget } from './rate-budget.js';
import type { RetryPolicy } from './retry.js';

/** How a server reads its shards: the GetRecords budget, and the subscriptions in enhanced fan-out mode. */
export interface ReadPlan {
  budget: ShardRateBudget;
  subscriptions: EnhancedFanOut | undefined;
  /** A background follower keeps the tables read (the share is above 0, or enhanced fan-out). */
  followed: boolean;
  close(): Promise<void>;
}

/**
 * With the follower on, every GetRecords call of the server (the follower's and statements') takes its
 * turn from one budget at kinesis.read-budget-share of what Kinesis allows per shard, so the rest stays
 * with the stream's other consumers. Without it, statements share the process-wide 5 calls a second. With
 * `shared` (servers on one engine dividing the shards), that rate and its burst hold for all of them together.
 */
export function planReads(
  aws: KinesqlConfig['aws'],
  scan: ScanConfig,
  client: KinesisClient,
  retry: RetryPolicy,
  logger: Logger,
  shared?: SharedCallBudget,
): ReadPlan {
  const budget = scan.readBudgetShare > 0 ? new ShardRateBudget(CALLS_PER_SECOND * scan.readBudgetShare, undefined, 0, undefined, shared) : processRateBudget;
  const subscriptions =
    scan.consumerMode === 'efo'
      ? new EnhancedFanOut(client, createSubscriptionClient(aws), {
          consumerName: scan.consumerName ?? 'kinesql',
          deregisterOnExit: scan.consumerDeregisterOnExit,
          retry,
          logger,
        })
      : undefined;
  return {
    budget,
    subscriptions,
    followed: scan.readBudgetShare > 0 || subscriptions !== undefined,
    close: async () => subscriptions?.close(),
  };
}
