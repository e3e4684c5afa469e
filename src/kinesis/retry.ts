import type { Logger } from 'pino';

export interface RetryPolicy {
  /** Attempts in all for errors other than throttling, the first included (Trino connector: kinesis.fetch-attempts). */
  attempts: number;
  /** Base delay in ms; retry n waits a random time up to base × 2^n (full jitter), capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** One attempt is abandoned after this long (ms) and retried like a network error. */
  callTimeoutMs?: number;
  /** The call fails once it has not succeeded for this long (ms), whatever attempts remain. */
  deadlineMs?: number;
  logger?: Logger;
  /** Called for every retried failure (throttles and errors are counted per shard). */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** A call that got no answer in time: its attempts ran out of time, or one attempt took too long. */
export class KinesisTimeoutError extends Error {
  override readonly name = 'KinesisTimeoutError';
  constructor(
    readonly what: string,
    readonly afterMs: number,
  ) {
    super(`Kinesis did not answer ${what} within ${afterMs} ms`);
  }
}

const THROTTLE_NAMES = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException', 'KMSThrottlingException', 'ThrottlingException']);

const RETRYABLE_NAMES = new Set([
  ...THROTTLE_NAMES,
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'KinesisTimeoutError',
  // A GetRecords body that is not Kinesis's JSON (a proxy's page, an answer cut short), as the SDK's SyntaxError below.
  'MalformedAnswerError',
]);

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH']);

/** Kinesis asked us to slow down: retried until the deadline, without using up attempts. */
export function isThrottle(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (e.name !== undefined && THROTTLE_NAMES.has(e.name)) || e.$metadata?.httpStatusCode === 429;
}

/** Throttling, 5xx and network failures are worth another try; a missing stream or bad request is not. */
export function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  // A body the SDK could not parse (a proxy's or load balancer's error page, a cut-off answer).
  if (e.name === 'SyntaxError' || (e.name === 'Error' && /socket hang up|aborted|ECONNRESET/i.test(String((e as Error).message)))) return true;
  return e.$retryable !== undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one attempt, abandoning it (and aborting its request) after timeoutMs. */
async function attemptWithTimeout<T>(what: string, timeoutMs: number | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  if (timeoutMs === undefined) return call(controller.signal);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new KinesisTimeoutError(what, timeoutMs));
      controller.abort();
    }, timeoutMs);
  });
  try {
    return await Promise.race([call(controller.signal), timeout]);
  } catch (error) {
    // The aborted call may fail first, with the SDK's AbortError: it is still our timeout.
    throw timedOut ? new KinesisTimeoutError(what, timeoutMs) : error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls until success. Throttles are retried until the deadline; other retryable failures (5xx, network,
 * timeouts) until `attempts` are used or the deadline passes; each retry waits with full jitter.
 */
export async function withRetries<T>(policy: RetryPolicy, what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const started = Date.now();
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const left = policy.deadlineMs === undefined ? undefined : Math.max(1, policy.deadlineMs - (Date.now() - started));
      const timeout = left === undefined ? policy.callTimeoutMs : Math.min(left, policy.callTimeoutMs ?? left);
      return await attemptWithTimeout(what, timeout, call);
    } catch (error) {
      if (!isRetryable(error)) throw error;
      const throttled = isThrottle(error);
      if (!throttled) failures += 1;
      if (!throttled && failures >= policy.attempts) throw error;
      const delay = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 20));
      const elapsed = Date.now() - started;
      if (policy.deadlineMs !== undefined && elapsed + delay >= policy.deadlineMs) {
        throw new KinesisTimeoutError(`${what} (last failure: ${(error as Error).name ?? 'error'}: ${(error as Error).message})`, policy.deadlineMs);
      }
      policy.onRetry?.(error, attempt);
      policy.logger?.debug({ what, attempt, delayMs: Math.round(delay), err: error }, 'retrying Kinesis call');
      await sleep(delay);
    }
  }
}
