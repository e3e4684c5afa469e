/** Codes that appear in the first bytes of PostgreSQL frontend/backend messages (protocol 3.0). */
export const PROTOCOL_VERSION_3 = 196608; // 3 << 16
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** Largest message accepted before the connection is closed with 08P01, unless configured otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export enum TransactionStatus {
  Idle = 0x49, // 'I'
  InTransaction = 0x54, // 'T'
  Failed = 0x45, // 'E'
}
