import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { WireConfig } from '../config/config.js';
import { tlsServerEndPointOfPem } from './auth/channel-binding.js';
import { type AuthMethod, createAuthConfig, parseUserList, refuseMd5UnderScram, type StoredSecret } from './auth/credentials.js';
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

/** The configured method and users, checked; undefined with trust. Throws what makes them unusable. */
export function configuredUsers(config: WireConfig | undefined): { method: AuthMethod; users: Map<string, StoredSecret> } | undefined {
  const method = config?.authMethod ?? 'trust';
  if (method === 'trust') return undefined;
  if (!config?.users) throw new Error(`kinesql.auth-method=${method} needs kinesql.users (user:verifier pairs)`);
  const users = parseUserList(config.users);
  refuseMd5UnderScram(method, users);
  return { method, users };
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
  const configured = configuredUsers(config);
  if (configured) options.auth = createAuthConfig(configured.method, configured.users, standInKey);
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
