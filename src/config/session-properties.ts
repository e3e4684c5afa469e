/**
 * The session properties clients SET (`SET kinesis.max_batches = 3`, the Trino connector's names, and kinesql's
 * own `kinesql.max_staleness`): one definition each — its names, type, parser, the configuration key whose
 * value a session starts with, and the text of its documentation. Every place that reads, checks, lists or
 * documents them takes them from here.
 */
import { parsePgBoolean, parsePgDurationMs } from '../pg/setting-syntax.js';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from './config.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** A session property set to a value it cannot take (invalid_parameter_value), reported to the client as an error naming it. */
export class SessionSettingError extends PgError {
  constructor(
    readonly setting: string,
    value: string,
    expected: string,
  ) {
    super(`invalid value for ${setting}: "${value}"; expected ${expected}`, SQLSTATE.invalidParameterValue);
  }
}

/** A session property set past the operator's limit (the session window past kinesql.max-window). */
export class SessionLimitError extends SessionSettingError {
  override readonly sqlstate: string = SQLSTATE.insufficientPrivilege;

  constructor(setting: string, message: string) {
    super(setting, '', '');
    this.message = message;
  }
}

/** How a property's text is read. */
export interface ValueType<T> {
  readonly name: 'boolean' | 'integer' | 'timestamp' | 'duration' | 'text';
  /** What the text should look like, for errors and the documentation. */
  readonly expected: string;
  /** The value, or undefined when the text is not of the expected form. */
  read(text: string): T | undefined;
}

const booleanType: ValueType<boolean> = { name: 'boolean', expected: 'true or false', read: parsePgBoolean };

const integerType = (max: number): ValueType<number> => ({
  name: 'integer',
  expected: max === Number.MAX_SAFE_INTEGER ? 'a whole number of 0 or more' : `an integer between 0 and ${max}`,
  read: (text) => (/^\d+$/.test(text) && Number(text) <= max ? Number(text) : undefined),
});

/** The Trino connector wrote `yyyy-MM-dd HH:mm:ss.SSS` (UTC unless a zone follows); ISO 8601 and epoch milliseconds work too. */
const timestampType: ValueType<Date> = {
  name: 'timestamp',
  expected: 'a timestamp such as 2026-03-01 12:00:00.000',
  read(text) {
    if (/^\d{12,}$/.test(text)) return new Date(Number(text));
    const normalized = text.replace(' ', 'T');
    const withZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(normalized) ? normalized : `${normalized}Z`;
    const parsed = new Date(withZone);
    return Number.isNaN(parsed.getTime()) ? undefined : parsed;
  },
};

const durationType: ValueType<number> = { name: 'duration', expected: 'a duration such as 500ms, 2s or 1min', read: parsePgDurationMs };

const textType: ValueType<string> = { name: 'text', expected: 'a name', read: (text) => text };

export interface SessionProperty<T> {
  /** The name, lower case (PostgreSQL matches setting names case-insensitively). */
  readonly name: string;
  /** The Trino connector's other spellings of it; when a session sets several, the name first, then the aliases in order, wins. */
  readonly aliases: readonly string[];
  readonly type: ValueType<T>;
  /** The configuration key whose value a session that did not set the property gets, if any. */
  readonly configKey?: string;
  /** That value. */
  readonly default: (config: KinesqlConfig) => T | undefined;
  /** What it does, as docs/configuration.md says. */
  readonly doc: string;
}

const MAX_OFFSET_SECONDS = 365 * 86_400;

export const SESSION_PROPERTIES = {
  iterFromTimestamp: {
    name: 'kinesis.iter_from_timestamp',
    aliases: ['kinesis.start_from_timestamp'],
    type: booleanType,
    configKey: 'kinesis.iter-from-timestamp',
    default: (config) => config.read.iterFromTimestamp,
    doc: "Start the session's window `iter_offset_seconds` before each statement (`true`) or at the oldest record the stream keeps (`false`).",
  } satisfies SessionProperty<boolean>,
  iterOffsetSeconds: {
    name: 'kinesis.iter_offset_seconds',
    aliases: ['kinesis.starting_offset_seconds'],
    type: integerType(MAX_OFFSET_SECONDS),
    configKey: 'kinesis.iter-offset-seconds',
    default: (config) => config.read.iterOffsetSeconds,
    doc: "Size of the session's window in seconds (0 to 365 days).",
  } satisfies SessionProperty<number>,
  iterStartTimestamp: {
    name: 'kinesis.iter_start_timestamp',
    aliases: ['kinesis.starting_timestamp'],
    type: timestampType,
    default: () => undefined,
    doc: "Start the session's window at this instant instead (`yyyy-MM-dd HH:mm:ss.SSS`, UTC unless a zone is given; ISO 8601 and epoch milliseconds work too).",
  } satisfies SessionProperty<Date>,
  maxBatches: {
    name: 'kinesis.max_batches',
    aliases: [],
    type: integerType(Number.MAX_SAFE_INTEGER),
    configKey: 'kinesis.max-batches',
    default: (config) => config.read.maxBatches,
    doc: "GetRecords calls per shard when the session's statements catch up; `0` reads up to the newest record.",
  } satisfies SessionProperty<number>,
  batchSize: {
    name: 'kinesis.batch_size',
    aliases: [],
    type: integerType(Number.MAX_SAFE_INTEGER),
    configKey: 'kinesis.batch-size',
    default: (config) => config.read.batchSize,
    doc: 'Records per GetRecords call of those catch-ups; used between 1 and 10000.',
  } satisfies SessionProperty<number>,
  checkpointEnabled: {
    name: 'kinesis.checkpoint_enabled',
    aliases: [],
    type: booleanType,
    configKey: 'kinesis.checkpoint-enabled',
    default: (config) => config.checkpoint?.enabled ?? false,
    doc: "Checkpoint iterations: the session's statements see only records after the previous iteration's checkpoint, and leave their own.",
  } satisfies SessionProperty<boolean>,
  checkpointLogicalName: {
    name: 'kinesis.checkpoint_logical_name',
    aliases: [],
    type: textType,
    configKey: 'kinesis.checkpoint-logical-name',
    default: (config) => config.checkpoint?.logicalName ?? 'process1',
    doc: 'Name the checkpoints are stored under.',
  } satisfies SessionProperty<string>,
  iterationNumber: {
    name: 'kinesis.iteration_number',
    aliases: [],
    type: integerType(2 ** 31 - 1),
    configKey: 'kinesis.iteration-number',
    default: (config) => config.checkpoint?.iterationNumber ?? 0,
    doc: "The iteration the session's statements belong to: they see records after iteration N − 1's checkpoint.",
  } satisfies SessionProperty<number>,
  maxStaleness: {
    name: 'kinesql.max_staleness',
    aliases: [],
    type: durationType,
    configKey: 'kinesql.max-staleness',
    default: (config) => (config.scan ?? DEFAULT_SCAN_CONFIG).maxStalenessMs,
    doc: 'How old an answer the session accepts: a table whose shards were all read to their tips this recently is not read again (`0`: every statement reads to the tips; checkpoint iterations always do).',
  } satisfies SessionProperty<number>,
} as const;

export const ALL_SESSION_PROPERTIES: readonly SessionProperty<unknown>[] = Object.values(SESSION_PROPERTIES);

/** Every name and alias, lower case: each client backend starts with all of them as empty placeholders, so they can be read back and RESET. */
export const SESSION_PROPERTY_NAMES: readonly string[] = ALL_SESSION_PROPERTIES.flatMap((property) => [property.name, ...property.aliases]);

/** The property a setting name (or alias) names, case-insensitively. */
export function sessionPropertyNamed(name: string): SessionProperty<unknown> | undefined {
  const lower = name.toLowerCase();
  return ALL_SESSION_PROPERTIES.find((property) => property.name === lower || property.aliases.includes(lower));
}

/** The value `text` gives a property set under `name`; undefined for empty text (not set). Throws SessionSettingError. */
export function parseSessionProperty<T>(property: SessionProperty<T>, text: string, name = property.name): T | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = property.type.read(trimmed);
  if (value === undefined) throw new SessionSettingError(name, trimmed, property.type.expected);
  return value;
}

/** A property's value in a session's settings (lower-case names): its first spelling set to something, or undefined. */
export function sessionPropertyValue<T>(settings: ReadonlyMap<string, string> | undefined, property: SessionProperty<T>): T | undefined {
  for (const name of [property.name, ...property.aliases]) {
    const value = parseSessionProperty(property, settings?.get(name) ?? '', name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * Checks a value a session gives a setting, as PostgreSQL checks its own when they are set: throws
 * SessionSettingError when it names a session property that could never use the value. An empty value means
 * "not set"; other settings pass.
 */
export function checkSessionProperty(name: string, value: string): void {
  const property = sessionPropertyNamed(name);
  if (property) parseSessionProperty(property, value, name.toLowerCase());
}
