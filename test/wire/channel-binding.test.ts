import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERTIFICATE_KINDS, type CertificateKind, makeCertificate } from '../support/certificates.js';
import { certificateSignatureHash, tlsServerEndPoint, tlsServerEndPointOfPem } from '../../src/wire/auth/channel-binding.js';

// Certificates of every signature kind come from openssl (a child process), so this file runs with test:e2e.
describe('tls-server-end-point binding data', () => {
  let dir: string;
  const certificates: Record<string, Buffer> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kinesql-cb-'));
    await Promise.all(
      (Object.keys(CERTIFICATE_KINDS) as CertificateKind[]).map(async (name) => {
        await makeCertificate(dir, name, name);
        certificates[name] = await readFile(join(dir, `${name}.crt`));
      }),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("hashes the certificate's DER with its signature's hash, SHA-256 in place of SHA-1 and MD5", () => {
    const expected: Record<string, string | undefined> = {
      'rsa-sha256': 'sha256',
      'ec-sha384': 'sha384',
      'pss-sha512': 'sha512',
      'rsa-sha1': 'sha256',
      ed25519: undefined,
    };
    for (const [name, hash] of Object.entries(expected)) {
      const der = new X509Certificate(certificates[name]!).raw;
      expect(tlsServerEndPoint(der), name).toEqual(hash === undefined ? undefined : createHash(hash).update(der).digest());
    }
    expect(certificateSignatureHash(new X509Certificate(certificates['rsa-sha1']!).raw)).toBe('sha1');
  });

  it('takes the first certificate of a chain', () => {
    const chain = Buffer.concat([certificates['ec-sha384']!, certificates['rsa-sha256']!]);
    expect(tlsServerEndPointOfPem(chain)).toEqual(tlsServerEndPointOfPem(certificates['ec-sha384']!));
  });
});
