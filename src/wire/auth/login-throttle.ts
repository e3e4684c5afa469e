/**
 * Slows password guessing from one client address: after failed logins, the address's next authentication
 * answers wait a while (the waiting session only; other addresses are not slowed).
 */
import { isIPv6 } from 'node:net';

export interface LoginThrottleOptions {
  /** Delay after the second failure; it doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Each whole quiet period (no failure from the address) halves its count of failures. */
  quietMs: number;
  /** Most addresses remembered; the one whose last failure is oldest is forgotten first. */
  maxAddresses: number;
  now: () => number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  quietMs: 60_000,
  maxAddresses: 10_000,
  now: () => Date.now(),
};

/** How long to wait before answering an address with `failures` recent failed logins: none for the first one. */
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
}

/** Failed logins by client address, bounded in size. */
export class LoginThrottle {
  private readonly options: LoginThrottleOptions;
  /** In order of last failure, oldest first (an entry is moved to the end when it fails again). */
  private readonly byAddress = new Map<string, Failures>();

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.options = { ...DEFAULT_LOGIN_THROTTLE, ...options };
  }

  /** Recent failures from the address, after decay. */
  failures(address: string): number {
    const entry = this.byAddress.get(throttleKey(address));
    return entry ? decayedFailures(entry.count, this.options.now() - entry.lastAt, this.options.quietMs) : 0;
  }

  /** How long the address's next authentication answer waits. */
  delayMs(address: string): number {
    return failureDelayMs(this.failures(address), this.options);
  }

  /** Counts a failed login; returns the address's count of recent failures with it. */
  failed(address: string): number {
    const key = throttleKey(address);
    const count = this.failures(address) + 1;
    this.byAddress.delete(key);
    this.byAddress.set(key, { count, lastAt: this.options.now() });
    while (this.byAddress.size > this.options.maxAddresses) {
      const oldest = this.byAddress.keys().next().value;
      if (oldest === undefined) break;
      this.byAddress.delete(oldest);
    }
    return count;
  }

  get size(): number {
    return this.byAddress.size;
  }
}
