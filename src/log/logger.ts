import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
const SECRET_KEYS = ['password', 'secretAccessKey', 'secretKey', 'sessionToken', 'accessKeyId', 'authorization', 'verifier'];

export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** How log lines are written: JSON lines for machines, or one readable colored line each for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/** `pretty` when stdout is a terminal, unless KINESQL_LOG_FORMAT says otherwise (`json` or `pretty`). */
export function logFormatFor(env: NodeJS.ProcessEnv, stdoutIsTerminal: boolean): LogFormat {
  const chosen = env['KINESQL_LOG_FORMAT'];
  if (chosen === 'json' || chosen === 'pretty') return chosen;
  return stdoutIsTerminal ? 'pretty' : 'json';
}

/** The process logger: secrets redacted; JSON lines unless `format` is pretty. */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const options = { level, base: { service: 'kinesql' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (format === 'pretty') {
    return pino(
      options,
      PinoPretty({ colorize: true, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service', ...(destination ? { destination } : {}) }),
    );
  }
  return destination ? pino(options, destination) : pino(options);
}
