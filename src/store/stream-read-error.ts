import { unreachableWorker } from '../engine/citus.js';
import { EngineUnavailable } from '../engine/engine-unavailable.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** A failure to read a stream, worded for the SQL client, with the SQLSTATE a foreign-data source would use. */
export class StreamReadError extends PgError {
  constructor(
    message: string,
    sqlstate: string,
    readonly streamName: string,
  ) {
    super(message, sqlstate);
  }

  static from(error: unknown, streamName: string): StreamReadError {
    if (error instanceof StreamReadError) return error;
    // A read ended by kinesql's own shutdown: the client is told that, as its session ends with it.
    if (error instanceof PgError && error.sqlstate === SQLSTATE.adminShutdown) return new StreamReadError(error.message, error.sqlstate, streamName);
    const e = error as { name?: string; code?: string; message?: string; severity?: string };
    const worker = unreachableWorker(error);
    if (worker)
      return new StreamReadError(`could not store records of Kinesis stream "${streamName}" in the engine: ${worker.message}`, worker.sqlstate, streamName);
    const reason = e.message ?? String(error);
    // The engine's own error while storing what was read (node-postgres's, or the engine being away): its SQLSTATE, not a Kinesis read failure.
    const engineSqlstate =
      error instanceof EngineUnavailable
        ? error.sqlstate
        : e.severity !== undefined && e.code !== undefined && /^[0-9A-Z]{5}$/.test(e.code)
          ? e.code
          : undefined;
    if (engineSqlstate !== undefined) {
      return new StreamReadError(`could not store records of Kinesis stream "${streamName}" in the engine: ${reason}`, engineSqlstate, streamName);
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
