/** Loads the read-only gate's corpora from test/data. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
