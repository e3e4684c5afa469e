import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { WireConfig } from '../config/config.js';
import { tlsServerEndPointOfPem } from './auth/channel-binding.js';
import { createAuthConfig, parseUserList } from './auth/credentials.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../pg/protocol-constants.js';
import type { SessionSettings } from './session.js';

/** Turns the configuration's connection settings into what sessions use; reads the TLS files once. */
export function wireSessionOptions(config: WireConfig | undefined): Omit<SessionSettings, 'defaultSchema' | 'kinesqlVersion'> {
  const options: Omit<SessionSettings, 'defaultSchema' | 'kinesqlVersion'> = {
    maxMessageBytes: config?.maxProtocolMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  };
  const method = config?.authMethod ?? 'trust';
  if (method !== 'trust') {
    if (!config?.users) throw new Error(`kinesql.auth-method=${method} needs kinesql.users (user:verifier pairs)`);
    options.auth = createAuthConfig(method, parseUserList(config.users));
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
