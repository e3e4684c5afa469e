/**
 * Who may hold a connection: logins in progress are bounded per client address and never take one of the
 * kinesql.max-connections slots, which belong to sessions that have authenticated (each holds an engine
 * backend). So sockets that never finish logging in, however many, cannot lock real users out; they are
 * closed at the authentication timeout.
 */
import { throttleKey } from './auth/login-throttle.js';

export interface ConnectionLimits {
  /** Most logged-in sessions at once (kinesql.max-connections). */
  maxConnections: number;
  /** Most connections from one address (an IPv6 /64) that have not logged in yet (kinesql.max-pending-logins-per-address). */
  maxPendingLoginsPerAddress: number;
  /** Most sessions of one user at once; 0 = no cap (kinesql.max-sessions-per-user). */
  maxSessionsPerUser: number;
}

export const DEFAULT_MAX_PENDING_LOGINS_PER_ADDRESS = 32;

/** Ends what a slot holds; calling it again does nothing. */
export type Release = () => void;

export type SessionClaim = { granted: true; release: Release } | { granted: false; message: string };

export class ConnectionSlots {
  private readonly pendingByAddress = new Map<string, number>();
  private readonly sessionsByUser = new Map<string, number>();
  private sessions = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  /** A connection that has not logged in yet; undefined when its address has as many as it may. */
  openPending(address: string): Release | undefined {
    const key = throttleKey(address);
    const count = this.pendingByAddress.get(key) ?? 0;
    if (count >= this.limits.maxPendingLoginsPerAddress) return undefined;
    this.pendingByAddress.set(key, count + 1);
    return once(() => {
      const left = (this.pendingByAddress.get(key) ?? 1) - 1;
      if (left > 0) this.pendingByAddress.set(key, left);
      else this.pendingByAddress.delete(key);
    });
  }

  /** Whether a session could log in now; asked at the startup message, before authentication. */
  get hasRoom(): boolean {
    return this.sessions < this.limits.maxConnections;
  }

  /** Takes a session slot for an authenticated user, or says why there is none (53300, as PostgreSQL words it). */
  claimSession(user: string): SessionClaim {
    if (!this.hasRoom) return { granted: false, message: 'sorry, too many clients already' };
    const userSessions = this.sessionsByUser.get(user) ?? 0;
    const perUser = this.limits.maxSessionsPerUser;
    if (perUser > 0 && userSessions >= perUser) {
      return { granted: false, message: `too many connections for role "${user}" (kinesql.max-sessions-per-user = ${perUser})` };
    }
    this.sessions += 1;
    this.sessionsByUser.set(user, userSessions + 1);
    return {
      granted: true,
      release: once(() => {
        this.sessions -= 1;
        const left = (this.sessionsByUser.get(user) ?? 1) - 1;
        if (left > 0) this.sessionsByUser.set(user, left);
        else this.sessionsByUser.delete(user);
      }),
    };
  }
}

function once(action: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
