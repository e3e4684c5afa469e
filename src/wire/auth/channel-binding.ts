/**
 * tls-server-end-point channel binding (RFC 5929): a hash of the server certificate's DER, with the hash
 * of the certificate's signature algorithm, except that MD5 and SHA-1 are replaced by SHA-256.
 */
import { createHash, X509Certificate } from 'node:crypto';

interface DerElement {
  tag: number;
  /** Where the contents start and end (the header is before start). */
  start: number;
  end: number;
}

function readElement(der: Buffer, offset: number): DerElement {
  const tag = der[offset];
  let lengthByte = der[offset + 1];
  if (tag === undefined || lengthByte === undefined) throw new Error('truncated DER');
  let start = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i += 1) {
      lengthByte = der[start + i];
      if (lengthByte === undefined) throw new Error('truncated DER');
      length = length * 256 + lengthByte;
    }
    start += count;
  }
  if (start + length > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + length };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

const SEQUENCE = 0x30;
const OID = 0x06;

/** Signature algorithms by OID, with the hash each signs with. */
const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

/**
 * The hash a certificate (DER) is signed with, or undefined when its algorithm has none of its own
 * (Ed25519, Ed448) or is unknown: channel binding is then not possible.
 */
export function certificateSignatureHash(der: Buffer): string | undefined {
  const certificate = readElement(der, 0);
  if (certificate.tag !== SEQUENCE) throw new Error('not a certificate');
  const tbs = readElement(der, certificate.start);
  const algorithm = readElement(der, tbs.end);
  if (algorithm.tag !== SEQUENCE) throw new Error('not a certificate');
  const oid = readElement(der, algorithm.start);
  if (oid.tag !== OID) throw new Error('not a certificate');
  const name = decodeOid(der.subarray(oid.start, oid.end));
  if (name !== RSASSA_PSS) return SIGNATURE_HASHES[name];
  // RSASSA-PSS-params: SEQUENCE { [0] hashAlgorithm AlgorithmIdentifier DEFAULT sha1, ... }
  if (oid.end >= algorithm.end) return 'sha1';
  const params = readElement(der, oid.end);
  if (params.tag !== SEQUENCE || params.start >= params.end) return 'sha1';
  const first = readElement(der, params.start);
  if (first.tag !== 0xa0) return 'sha1';
  const hashAlgorithm = readElement(der, first.start);
  const hashOid = readElement(der, hashAlgorithm.start);
  return hashOid.tag === OID ? DIGESTS[decodeOid(der.subarray(hashOid.start, hashOid.end))] : undefined;
}

/** tls-server-end-point binding data of a certificate (DER); undefined when the certificate allows none. */
export function tlsServerEndPoint(der: Buffer): Buffer | undefined {
  const hash = certificateSignatureHash(der);
  if (hash === undefined) return undefined;
  return createHash(hash === 'md5' || hash === 'sha1' ? 'sha256' : hash)
    .update(der)
    .digest();
}

/** The binding data of the first (the server's own) certificate of a PEM file's contents. */
export function tlsServerEndPointOfPem(pem: Buffer | string): Buffer | undefined {
  return tlsServerEndPoint(new X509Certificate(pem).raw);
}
