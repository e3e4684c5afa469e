import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import {
  ALL_SESSION_PROPERTIES,
  checkSessionProperty,
  SESSION_PROPERTIES,
  SESSION_PROPERTY_NAMES,
  SessionSettingError,
  sessionPropertyNamed,
  sessionPropertyValue,
  type SessionProperty,
} from '../../src/config/session-properties.js';
import { parsePgBoolean, parsePgDurationMs } from '../../src/pg/setting-syntax.js';
import { settingRefusal } from '../../src/sql/session-settings.js';
import { READ_BACK } from '../../src/wire/session-settings.js';

const settings = (entries: Record<string, string>) => new Map(Object.entries(entries));

/** The row of docs/configuration.md's session property table that documents a property. */
function docRow(property: SessionProperty<unknown>): string {
  const names = [property.name, ...property.aliases].map((name) => `\`${name}\``).join(' = ');
  return `| ${names} | ${property.type.expected} | ${property.configKey ? `\`${property.configKey}\`` : '—'} | ${property.doc} |`;
}

describe('session properties', () => {
  it('read booleans as PostgreSQL does, prefixes included, and refuse the rest', () => {
    for (const text of ['true', 'TRUE', ' on ', 'yes', 'y', 't', 'tr', '1']) expect(parsePgBoolean(text)).toBe(true);
    for (const text of ['false', 'Off', 'of', 'no', 'n', 'f', '0']) expect(parsePgBoolean(text)).toBe(false);
    for (const text of ['o', 'maybe', '2', 'truth', '']) expect(parsePgBoolean(text)).toBeUndefined();
  });

  it('read durations in PostgreSQL units, plain numbers as milliseconds', () => {
    expect(parsePgDurationMs('500')).toBe(500);
    expect(parsePgDurationMs('2s')).toBe(2000);
    expect(parsePgDurationMs('1.5 min')).toBe(90_000);
    expect(parsePgDurationMs('1d')).toBe(86_400_000);
    expect(parsePgDurationMs('5m')).toBeUndefined();
    expect(parsePgDurationMs('soon')).toBeUndefined();
  });

  it('are found by name or alias, case-insensitively', () => {
    expect(sessionPropertyNamed('KINESIS.Starting_Offset_Seconds')).toBe(SESSION_PROPERTIES.iterOffsetSeconds);
    expect(sessionPropertyNamed('kinesql.max_staleness')).toBe(SESSION_PROPERTIES.maxStaleness);
    expect(sessionPropertyNamed('kinesis.unknown')).toBeUndefined();
  });

  it('take their value from the first spelling a session set, and name the spelling whose value is refused', () => {
    expect(
      sessionPropertyValue(settings({ 'kinesis.iter_offset_seconds': '', 'kinesis.starting_offset_seconds': '60' }), SESSION_PROPERTIES.iterOffsetSeconds),
    ).toBe(60);
    expect(
      sessionPropertyValue(settings({ 'kinesis.iter_offset_seconds': '5', 'kinesis.starting_offset_seconds': '60' }), SESSION_PROPERTIES.iterOffsetSeconds),
    ).toBe(5);
    expect(sessionPropertyValue(settings({ 'kinesql.max_staleness': '2s' }), SESSION_PROPERTIES.maxStaleness)).toBe(2000);
    expect(sessionPropertyValue(undefined, SESSION_PROPERTIES.checkpointEnabled)).toBeUndefined();
    expect(() => sessionPropertyValue(settings({ 'kinesis.starting_offset_seconds': 'soon' }), SESSION_PROPERTIES.iterOffsetSeconds)).toThrow(
      'invalid value for kinesis.starting_offset_seconds: "soon"; expected an integer between 0 and 31536000',
    );
  });

  it('are checked when set, with an error that says what is expected', () => {
    expect(() => checkSessionProperty('kinesis.checkpoint_enabled', 'sometimes')).toThrow(SessionSettingError);
    expect(() => checkSessionProperty('kinesis.checkpoint_enabled', 'sometimes')).toThrow('expected true or false');
    expect(() => checkSessionProperty('kinesql.max_staleness', '5 minutes')).toThrow('expected a duration such as 500ms, 2s or 1min');
    expect(() => checkSessionProperty('kinesis.iter_start_timestamp', 'yesterday')).toThrow('expected a timestamp such as 2026-03-01 12:00:00.000');
    expect(() => checkSessionProperty('kinesis.iteration_number', String(2 ** 31))).toThrow(SessionSettingError);
    for (const [name, value] of [
      ['kinesis.iter_start_timestamp', '2026-02-28 08:30:00.000'],
      ['kinesis.max_batches', '0'],
      ['kinesis.checkpoint_enabled', 'on'],
      ['kinesis.unknown', 'anything'],
      ['kinesql.max_staleness', ''],
    ] as const) {
      expect(() => checkSessionProperty(name, value)).not.toThrow();
    }
  });

  it('start from the configured values, which their own parsers accept', () => {
    const config = { ...DEFAULT_CONFIG, checkpoint: { enabled: true, logicalName: 'nightly', iterationNumber: 4 } };
    for (const property of ALL_SESSION_PROPERTIES) {
      const value = property.default(config);
      if (value === undefined) continue;
      expect(property.type.read(String(value))).toEqual(value);
    }
    expect(SESSION_PROPERTIES.checkpointLogicalName.default(config)).toBe('nightly');
    expect(SESSION_PROPERTIES.checkpointLogicalName.default(DEFAULT_CONFIG)).toBe('process1');
    expect(SESSION_PROPERTIES.iterOffsetSeconds.default(DEFAULT_CONFIG)).toBe(86_400);
    expect(SESSION_PROPERTIES.maxStaleness.default(DEFAULT_CONFIG)).toBe(0);
  });

  it('may be set by clients, start as placeholders and are read back from every session', () => {
    for (const name of SESSION_PROPERTY_NAMES) {
      expect(settingRefusal(name, '1')).toBeUndefined();
      expect(READ_BACK).toContain(name);
    }
  });

  it('are documented in docs/configuration.md with the text of their definitions', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');
    const missing = ALL_SESSION_PROPERTIES.map(docRow).filter((row) => !doc.includes(row));
    expect(missing).toEqual([]);
  });
});
