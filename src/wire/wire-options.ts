import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { WireConfig } from '../config/config.js';
import { tlsServerEndPointOfPem } from './auth/channel-binding.js';
import { createAuthConfig, parseUserList } from './auth/credentials.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../pg/protocol-constants.js';
import type { SessionSettings } from './session.js';
import { DEFAULT_MAX_PENDING_LOGINS_PER_ADDRESS, type ConnectionLimits } from './connection-slots.js';

/** Who may hold a connection: kinesql.max-connections and the wire's per-address and per-user caps. */
export function connectionLimits(maxConnections: number, config: WireConfig | undefined): ConnectionLimits {
  return {
    maxConnections,
    maxPendingLoginsPerAddress: config?.maxPendingLoginsPerAddress ?? DEFAULT_MAX_PENDING_LOGINS_PER_ADDRESS,
    maxSessionsPerUser: config?.maxSessionsPerUser ?? 0,
  };
}

/**
 * Turns the configuration's connection settings into what sessions use; reads the TLS files once.
 * `standInKey` makes unknown users' login secrets (ClientRoles.derivedKey: it must outlive the process).
 */
export function wireSessionOptions(config: WireConfig | undefined, standInKey: Buffer): Omit<SessionSettings, 'defaultSchema' | 'kinesqlVersion'> {
  const options: Omit<SessionSettings, 'defaultSchema' | 'kinesqlVersion'> = {
    maxMessageBytes: config?.maxProtocolMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  };
  if (config?.authenticationTimeoutMs !== undefined) options.authenticationTimeoutMs = config.authenticationTimeoutMs;
  const method = config?.authMethod ?? 'trust';
  if (method !== 'trust') {
    if (!config?.users) throw new Error(`kinesql.auth-method=${method} needs kinesql.users (user:verifier pairs)`);
    options.auth = createAuthConfig(method, parseUserList(config.users), standInKey);
  }
  if ((config?.tlsCertFile === undefined) !== (config?.tlsKeyFile === undefined)) {
    throw new Error('kinesql.tls-cert and kinesql.tls-key must be set together');
  }
  if (config?.tlsCertFile && config.tlsKeyFile) {
    const cert = readFileSync(config.tlsCertFile);
    options.tls = createSecureContext({ cert, key: readFileSync(config.tlsKeyFile) });
    const binding = tlsServerEndPointOfPem(cert);
    if (binding) options.tlsChannelBinding = binding;
  }
  if (config?.requireTls) {
    if (!options.tls) throw new Error('kinesql.require-tls needs TLS: set kinesql.tls-cert and kinesql.tls-key');
    options.requireTls = true;
  }
  return options;
}
