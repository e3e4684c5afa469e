import type { Logger } from 'pino';

export interface RetryPolicy {
  /** Attempts in all, the first included (seed: kinesis.fetch-attempts). */
  attempts: number;
  /** Base delay in ms; attempt n waits a random time up to base × 2^n (full jitter), capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  logger?: Logger;
  /** Called for every retried failure (throttles and errors are counted per shard). */
  onRetry?: (error: unknown, attempt: number) => void;
}

const RETRYABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH']);

/** Throttling, 5xx and network failures are worth another try; a missing stream or bad request is not. */
export function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  return e.$retryable !== undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function withRetries<T>(policy: RetryPolicy, what: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= policy.attempts || !isRetryable(error)) throw error;
      policy.onRetry?.(error, attempt);
      const delay = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
      policy.logger?.debug({ what, attempt, delayMs: Math.round(delay), err: error }, 'retrying Kinesis call');
      await sleep(delay);
    }
  }
}
