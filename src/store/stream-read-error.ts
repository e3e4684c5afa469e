import { SQLSTATE } from '../pg/sqlstate.js';

/** A failure to read a stream, worded for the SQL client, with the SQLSTATE a foreign-data source would use. */
export class StreamReadError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string,
    readonly streamName: string,
  ) {
    super(message);
  }

  static from(error: unknown, streamName: string): StreamReadError {
    if (error instanceof StreamReadError) return error;
    const e = error as { name?: string; code?: string; message?: string; severity?: string };
    const reason = e.message ?? String(error);
    if (e.severity !== undefined && e.code !== undefined && /^[0-9A-Z]{5}$/.test(e.code)) {
      // The engine's own error while storing what was read: its SQLSTATE, not a Kinesis read failure.
      return new StreamReadError(`could not store records of Kinesis stream "${streamName}" in the engine: ${reason}`, e.code, streamName);
    }
    if (e.name === 'ResourceNotFoundException') {
      return new StreamReadError(`Kinesis stream "${streamName}" does not exist or is not readable: ${reason}`, SQLSTATE.fdwTableNotFound, streamName);
    }
    if (e.name === 'AccessDeniedException' || e.name === 'UnrecognizedClientException') {
      return new StreamReadError(`not allowed to read Kinesis stream "${streamName}": ${reason}`, SQLSTATE.insufficientPrivilege, streamName);
    }
    if (e.name === 'KinesisTimeoutError') {
      return new StreamReadError(`could not read Kinesis stream "${streamName}": ${reason}`, SQLSTATE.fdwUnableToEstablishConnection, streamName);
    }
    const network = e.code !== undefined || e.name === 'TimeoutError' || e.name === 'RequestTimeout';
    return new StreamReadError(
      `could not read Kinesis stream "${streamName}": ${reason}`,
      network ? SQLSTATE.fdwUnableToEstablishConnection : SQLSTATE.fdwError,
      streamName,
    );
  }
}
