import { isIP } from 'node:net';
import type { KinesqlConfig } from '../config/config.js';

/** Addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * Why serving this configuration would let anyone on the network in, or undefined when it would not:
 * kinesql refuses to listen beyond loopback with trust authentication unless told so explicitly.
 */
export function unauthenticatedExposure(config: KinesqlConfig): string | undefined {
  const method = config.wire?.authMethod ?? 'trust';
  if (method !== 'trust' || isLoopbackHost(config.server.host)) return undefined;
  return (
    `refusing to serve ${config.server.host}:${config.server.port} without authentication: anyone who can reach it could connect. ` +
    `Configure kinesql.auth-method (scram-sha-256, md5 or password) with kinesql.users, listen on 127.0.0.1, ` +
    `or pass --allow-unauthenticated-remote (kinesql.allow-unauthenticated-remote=true) to accept the risk`
  );
}
