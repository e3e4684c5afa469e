import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { ceilingOf, ceilingRefusal, settingCeilings } from '../../src/config/setting-ceilings.js';

const ceilings = settingCeilings({
  ...DEFAULT_CONFIG,
  engine: { ...DEFAULT_CONFIG.engine, workMem: '64MB', statementTimeoutMs: 30_000, tempFileLimit: '1GB' },
});
const refused = (setting: string, value: string | number | undefined) => ceilingRefusal(ceilingOf(ceilings, setting)!, value) !== undefined;

describe("the operator's limits on client settings", () => {
  it('read values as PostgreSQL does: units, bare numbers in the base unit, rounding', () => {
    expect(refused('work_mem', '64MB')).toBe(false);
    expect(refused('work_mem', 65_536)).toBe(false);
    expect(refused('work_mem', 65_537)).toBe(true);
    expect(refused('work_mem', '0.0625GB')).toBe(false);
    expect(refused('work_mem', '1TB')).toBe(true);
    // PostgreSQL's units are case-sensitive; what kinesql cannot read is refused, never guessed.
    expect(refused('work_mem', '1mb')).toBe(true);
    expect(refused('work_mem', '0x10')).toBe(true);
    expect(refused('statement_timeout', '30s')).toBe(false);
    expect(refused('statement_timeout', '0.5min')).toBe(false);
    expect(refused('statement_timeout', '31 s')).toBe(true);
  });

  it('count 0 (timeouts) and -1 (temp_file_limit) as no limit, so as the loosest values', () => {
    expect(refused('statement_timeout', 0)).toBe(true);
    expect(refused('statement_timeout', '400us')).toBe(true);
    expect(refused('statement_timeout', 1)).toBe(false);
    expect(refused('temp_file_limit', -1)).toBe(true);
    expect(refused('temp_file_limit', 0)).toBe(false);
    // No limit configured: every value is within it.
    expect(refused('lock_timeout', 0)).toBe(false);
    expect(refused('lock_timeout', '1d')).toBe(false);
  });

  it('refuse a value kinesql cannot see before it runs, and name the key in the message', () => {
    expect(refused('work_mem', undefined)).toBe(true);
    expect(ceilingRefusal(ceilingOf(ceilings, 'WORK_MEM')!, '2TB')).toMatch(/"work_mem" to "2TB".*64MB \(kinesql\.work-mem\)/);
  });

  it('cap the session window at the table window unless kinesql.max-window says otherwise', () => {
    expect(refused('kinesis.iter_offset_seconds', '86400')).toBe(false);
    expect(refused('kinesis.starting_offset_seconds', '86401')).toBe(true);
    expect(refused('kinesis.iter_offset_seconds', '')).toBe(false);
    const open = settingCeilings({ ...DEFAULT_CONFIG, read: { ...DEFAULT_CONFIG.read, iterFromTimestamp: false } });
    expect(ceilingOf(open, 'kinesis.iter_from_timestamp')).toBeUndefined();
  });
});
