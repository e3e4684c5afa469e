/** Loads the read-only gate's corpora from test/data, and the operator configuration they are checked under. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { settingCeilings, type SettingCeiling } from '../../src/config/setting-ceilings.js';

/**
 * The operator the corpora are written for: every limit set (the timeouts too, which are off by default), so
 * that turning one off or raising it is refused, and lowering it allowed.
 */
export function corpusConfig(config: KinesqlConfig): KinesqlConfig {
  return {
    ...config,
    engine: { ...config.engine, statementTimeoutMs: 60_000, lockTimeoutMs: 10_000 },
    wire: { ...config.wire, idleInTransactionTimeoutMs: 300_000 },
  };
}

/** The gate's ceilings under corpusConfig. */
export function corpusCeilings(): SettingCeiling[] {
  return settingCeilings(corpusConfig(DEFAULT_CONFIG));
}

export interface RefusedCase {
  readonly sqlstate: string;
  readonly mentions: string;
  readonly sql: string;
  readonly line: number;
}

export interface AllowedCase {
  readonly label: string;
  readonly sql: string;
}

function dataFile(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../data/${name}`, import.meta.url)), 'utf8');
}

export function loadRefusedCorpus(): RefusedCase[] {
  const cases: RefusedCase[] = [];
  dataFile('readonly-refused.tsv')
    .split('\n')
    .forEach((text, index) => {
      if (text.trim() === '' || text.startsWith('#') || text.startsWith('sqlstate\t')) return;
      const [sqlstate, mentions, statement, extra] = text.split('\t');
      if (!sqlstate || !mentions || !statement || extra !== undefined) {
        throw new Error(`readonly-refused.tsv line ${index + 1}: expected 3 tab-separated columns`);
      }
      const sql = statement.startsWith('"') ? (JSON.parse(statement) as string) : statement;
      cases.push({ sqlstate, mentions, sql, line: index + 1 });
    });
  return cases;
}

export function loadAllowedCorpus(): AllowedCase[] {
  const cases: AllowedCase[] = [];
  let current: { label: string; lines: string[] } | undefined;
  const flush = (): void => {
    if (current) cases.push({ label: current.label, sql: current.lines.join('\n').trim() });
  };
  for (const line of dataFile('readonly-allowed.sql').split('\n')) {
    const header = /^-- ---- (.+)$/.exec(line);
    if (header) {
      flush();
      current = { label: header[1]!, lines: [] };
    } else if (current) {
      current.lines.push(line);
    }
  }
  flush();
  return cases;
}
