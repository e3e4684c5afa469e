#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { createLogger, logFormatFor } from './log/logger.js';
import { loadConfig, type CliFlags } from './config/load-config.js';
import type { KinesqlConfig } from './config/config.js';
import { createKinesisClient } from './kinesis/client.js';
import { startEventGenerator } from './demo/event-generator.js';
import { ensureStream, startKinesisStandIn } from './demo/kinesis-standin.js';
import { startKinesql, type RunningKinesql } from './kinesql.js';
import { preflight } from './preflight.js';
import { inferStreamDefinition } from './infer.js';
import { makeScramVerifier } from './wire/auth/scram.js';

/** The first line of stdin (a pipe or a terminal), without its line end. */
async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (chunks.some((c) => c.includes(10))) break;
  }
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (password === '') throw new Error('scram-verifier: no password on stdin');
  return password;
}

const USAGE = `Usage:
  kinesql serve [options]   serve the streams of a configuration
  kinesql demo  [options]   serve a live sample stream from a built-in Kinesis stand-in (no AWS account)
  kinesql scram-verifier    read a password from stdin, print its SCRAM-SHA-256 verifier for kinesql.users
  kinesql infer --stream NAME [--sample N]
                            read a sample of a stream and print a table definition for it (JSON or CSV
                            messages: columns, mappings and types) to review and save in --tables

Options:
  --config FILE            properties file (kinesql keys and the Trino connector's kinesis.* keys)
  --host HOST              address to listen on (default 127.0.0.1)
  --port PORT              port to listen on (default 5433)
  --tables DIR|s3://B/P    table definitions (default config/tables)
  --kinesis-endpoint URL   Kinesis endpoint (default: the region's)
  --s3-endpoint URL        S3 endpoint for s3:// table definitions
  --region REGION          AWS region (default us-east-1)
  --data-dir DIR           embedded engine's data directory, kept across restarts (default: a fresh temporary one)
  --engine-url URL         an external PostgreSQL (14 or newer) as the engine instead of the embedded one
  --engine-read-url URL    a hot standby of the --engine-url engine where client sessions run
  --http-port PORT         serve /metrics (Prometheus), /healthz and /readyz on this port
  --log-level LEVEL        trace, debug, info, warn, error (default info)
  --allow-unauthenticated-remote
                           serve a non-loopback address with trust authentication (refused otherwise)
  -h, --help               this text
`;

const DEMO_STREAM = 'demo-events';
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

const OPTIONS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  tables: { type: 'string' },
  'kinesis-endpoint': { type: 'string' },
  's3-endpoint': { type: 'string' },
  region: { type: 'string' },
  'data-dir': { type: 'string' },
  'engine-url': { type: 'string' },
  'engine-read-url': { type: 'string' },
  'http-port': { type: 'string' },
  'log-level': { type: 'string' },
  'allow-unauthenticated-remote': { type: 'boolean' },
  stream: { type: 'string' },
  sample: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Node's parser error for an unknown or malformed option, said as one line with the nearest known option. */
function commandLineError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (unknown === undefined) return new Error(`${message.split('. ')[0]}; "kinesql --help" lists the options`);
  const name = unknown.replace(/^-+/, '').split('=')[0] ?? '';
  const nearest = Object.keys(OPTIONS)
    .map((option) => ({ option, distance: editDistance(name, option) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const suggestion = nearest !== undefined && nearest.distance <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean --${nearest.option}?` : '';
  return new Error(`unknown option ${unknown}${suggestion} ("kinesql --help" lists the options)`);
}

interface CommandLine {
  command: string | undefined;
  flags: Partial<CliFlags>;
  help: boolean;
  /** kinesql infer's own options. */
  infer: { stream?: string; sample?: string };
}

function parseCommandLine(argv: string[]): CommandLine {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw commandLineError(error);
  }
  const { values, positionals } = parsed;
  const flags: Partial<CliFlags> = {};
  if (values.config !== undefined) flags.configFile = values.config;
  if (values.host !== undefined) flags.host = values.host;
  if (values.port !== undefined) flags.port = values.port;
  if (values.tables !== undefined) flags.tables = values.tables;
  if (values['kinesis-endpoint'] !== undefined) flags.kinesisEndpoint = values['kinesis-endpoint'];
  if (values['s3-endpoint'] !== undefined) flags.s3Endpoint = values['s3-endpoint'];
  if (values.region !== undefined) flags.region = values.region;
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'];
  if (values['engine-url'] !== undefined) flags.engineUrl = values['engine-url'];
  if (values['engine-read-url'] !== undefined) flags.engineReadUrl = values['engine-read-url'];
  if (values['http-port'] !== undefined) flags.httpPort = values['http-port'];
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values['allow-unauthenticated-remote']) flags.allowUnauthenticatedRemote = true;
  const infer = { ...(values.stream !== undefined ? { stream: values.stream } : {}), ...(values.sample !== undefined ? { sample: values.sample } : {}) };
  return { command: positionals[0], flags, help: values.help === true, infer };
}

function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function serve(config: KinesqlConfig, logger: Logger): Promise<RunningKinesql> {
  await preflight(config);
  const running = await startKinesql(config, logger);
  onShutdownSignal(logger, () => running.close());
  return running;
}

async function demo(config: KinesqlConfig, flags: Partial<CliFlags>, logger: Logger): Promise<void> {
  const withDemoTables: KinesqlConfig = { ...config, catalog: { ...config.catalog, tablesLocation: flags.tables ?? `${packageRoot}config/tables` } };
  await preflight(withDemoTables);
  const standIn = await startKinesisStandIn();
  const demoConfig: KinesqlConfig = {
    ...withDemoTables,
    aws: { ...config.aws, kinesisEndpoint: standIn.endpoint, accessKeyId: 'demo', secretAccessKey: 'demo' },
  };
  const client = createKinesisClient(demoConfig.aws);
  await ensureStream(client, DEMO_STREAM, 4);
  const stopGenerator = startEventGenerator(client, DEMO_STREAM, logger);
  const running = await startKinesql(demoConfig, logger);
  process.stdout.write(
    `\nkinesql demo: stream "${DEMO_STREAM}" (4 shards) is filling with shop events on a local Kinesis stand-in.\n` +
      `Connect with:\n\n  psql -h ${running.host} -p ${running.port} -U demo -c 'select event_type, count(*) from demo_events group by 1'\n\n` +
      `Press Ctrl-C to stop.\n\n`,
  );
  onShutdownSignal(logger, async () => {
    await stopGenerator();
    await running.close();
    client.destroy();
    await standIn.close();
  });
}

/** Adds what to do to the AWS SDK's credential and region errors. */
function withAwsHint(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (/credential/i.test(message)) {
    return new Error(
      `${message}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or kinesql.aws-profile), or kinesis.access-key and kinesis.secret-key; a local stand-in accepts any values`,
    );
  }
  if (/region/i.test(message)) return new Error(`${message}: set --region (kinesis.aws-region) or AWS_REGION`);
  return error;
}

async function printInferredDefinition(flags: Partial<CliFlags>, options: CommandLine['infer']): Promise<void> {
  if (options.stream === undefined) throw new Error('kinesql infer needs --stream NAME');
  const sample = options.sample === undefined ? undefined : Number(options.sample);
  if (sample !== undefined && (!Number.isInteger(sample) || sample < 1 || sample > 100_000))
    throw new Error('--sample must be a whole number from 1 to 100000');
  const config = loadConfig({ ...(flags.configFile ? { file: flags.configFile } : {}), env: process.env, flags });
  const inference = await inferStreamDefinition(config, { stream: options.stream, ...(sample !== undefined ? { limit: sample } : {}) }).catch(
    (error: unknown) => {
      throw withAwsHint(error);
    },
  );
  for (const note of inference.notes) process.stderr.write(`kinesql infer: ${note}\n`);
  process.stdout.write(`${JSON.stringify(inference.definition, null, 2)}\n`);
}

export async function main(argv: string[]): Promise<void> {
  // The SDK warns on Node 20 that releases after January 2027 will need Node 22; the lock pins a release
  // that supports Node 20, so the warning says nothing about this installation.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { command, flags, help, infer } = parseCommandLine(argv);
  if (command === 'scram-verifier') {
    process.stdout.write(`${makeScramVerifier(await readPassword())}\n`);
    return;
  }
  if (command === 'infer' && !help) {
    await printInferredDefinition(flags, infer);
    return;
  }
  if (help || command === undefined || !['serve', 'demo'].includes(command)) {
    process.stdout.write(USAGE);
    if (!help) process.exitCode = 2;
    return;
  }
  const config = loadConfig({ ...(flags.configFile ? { file: flags.configFile } : {}), env: process.env, flags });
  const logger = createLogger(config.logLevel, undefined, logFormatFor(process.env, process.stdout.isTTY === true));
  for (const warning of config.warnings ?? []) logger.warn({ config: config.configFile }, warning);
  if (command === 'serve') await serve(config, logger);
  else await demo(config, flags, logger);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`kinesql: ${(error as Error).message}\n`);
  process.exit(1);
});
