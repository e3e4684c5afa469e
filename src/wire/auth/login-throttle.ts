/**
 * Slows password guessing: a failed login is answered after a delay that grows with the recent failures of
 * its (client address, user) pair, and the failures of one pair are answered one after another, however many
 * connections guess at once. A correct password is never delayed, from any address, for any user: only the
 * refusal waits. The connection keeps its pending-login slot while it waits (ConnectionSlots), so a guesser
 * who hangs up does not get the slot back sooner, and kinesql.max-pending-logins-per-address bounds how many
 * guesses one address has in flight.
 */
import { isIPv6 } from 'node:net';

export interface LoginThrottleOptions {
  /** Delay after the second failure; it doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Each whole quiet period (no failure of the pair) halves its count of failures. */
  quietMs: number;
  /** Most (address, user) pairs remembered; the one whose last failure is oldest is forgotten first. */
  maxPairs: number;
  now: () => number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  quietMs: 60_000,
  maxPairs: 10_000,
  now: () => Date.now(),
};

/** How long a failure of a pair with `failures` recent failed logins (this one included) waits: none for the first one. */
export function failureDelayMs(failures: number, options: Pick<LoginThrottleOptions, 'baseDelayMs' | 'maxDelayMs'> = DEFAULT_LOGIN_THROTTLE): number {
  if (failures < 2) return 0;
  return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(failures - 2, 30));
}

/** Failures still counted after `quietForMs` without one. */
export function decayedFailures(failures: number, quietForMs: number, quietMs: number = DEFAULT_LOGIN_THROTTLE.quietMs): number {
  const periods = Math.floor(Math.max(0, quietForMs) / quietMs);
  return periods >= 31 ? 0 : failures >> periods;
}

/**
 * What failures are counted against: an IPv4 address, or an IPv6 address's /64 (one host or site can hold a
 * whole /64, so counting single IPv6 addresses would count nothing).
 */
export function throttleKey(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (!isIPv6(bare)) return bare;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

interface Failures {
  count: number;
  lastAt: number;
  /** When the pair's latest failure is answered: the next one waits for it, then for its own delay. */
  answeredAt: number;
}

/** What a failed login is told: how many recent failures its pair has, and how long until it is answered. */
export interface FailureVerdict {
  failures: number;
  delayMs: number;
}

/** Failed logins by (client address, user), bounded in size. */
export class LoginThrottle {
  private readonly options: LoginThrottleOptions;
  /** In order of last failure, oldest first (an entry is moved to the end when it fails again). */
  private readonly byPair = new Map<string, Failures>();

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.options = { ...DEFAULT_LOGIN_THROTTLE, ...options };
  }

  private key(address: string, user: string): string {
    return `${throttleKey(address)}\0${user}`;
  }

  /** Recent failures of the pair, after decay. */
  failures(address: string, user: string): number {
    const entry = this.byPair.get(this.key(address, user));
    return entry ? decayedFailures(entry.count, this.options.now() - entry.lastAt, this.options.quietMs) : 0;
  }

  /** Counts a failed login; says how long to wait before answering it. */
  failed(address: string, user: string): FailureVerdict {
    const key = this.key(address, user);
    const now = this.options.now();
    const failures = this.failures(address, user) + 1;
    const previous = this.byPair.get(key);
    const answeredAt = Math.max(now, previous?.answeredAt ?? now) + failureDelayMs(failures, this.options);
    this.byPair.delete(key);
    this.byPair.set(key, { count: failures, lastAt: now, answeredAt });
    while (this.byPair.size > this.options.maxPairs) {
      const oldest = this.byPair.keys().next().value;
      if (oldest === undefined) break;
      this.byPair.delete(oldest);
    }
    return { failures, delayMs: answeredAt - now };
  }

  get size(): number {
    return this.byPair.size;
  }
}
