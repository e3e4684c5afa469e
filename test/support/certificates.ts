import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The key and signature kinds the TLS tests need, as openssl req arguments. */
export const CERTIFICATE_KINDS = {
  'rsa-sha256': ['-newkey', 'rsa:2048'],
  'ec-sha384': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'],
  'pss-sha512': ['-newkey', 'rsa:2048', '-sigopt', 'rsa_padding_mode:pss', '-sha512'],
  'rsa-sha1': ['-newkey', 'rsa:2048', '-sha1'],
  ed25519: ['-newkey', 'ed25519'],
} as const;

export type CertificateKind = keyof typeof CERTIFICATE_KINDS;

/**
 * Writes a self-signed certificate `<dir>/<name>.crt` and its key `<dir>/<name>.key` with Debian's openssl,
 * for localhost and 127.0.0.1.
 */
export async function makeCertificate(dir: string, name: string, kind: CertificateKind = 'rsa-sha256'): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    ...CERTIFICATE_KINDS[kind],
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    join(dir, `${name}.key`),
    '-out',
    join(dir, `${name}.crt`),
  ]);
}
