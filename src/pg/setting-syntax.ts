/** How PostgreSQL reads the text of a boolean or time setting, for kinesql's readers of session settings. */

/**
 * Every spelling PostgreSQL's parse_bool takes (case aside): true, yes, false, no and any prefix of them,
 * on and off (at least `of`), 1 and 0.
 */
export const BOOLEAN_SPELLINGS: { readonly true: readonly string[]; readonly false: readonly string[] } = {
  true: ['t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1'],
  false: ['f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0'],
};

/** A boolean setting's text as PostgreSQL reads it (surrounding blanks ignored); undefined when it is none. */
export function parsePgBoolean(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (BOOLEAN_SPELLINGS.true.includes(word)) return true;
  if (BOOLEAN_SPELLINGS.false.includes(word)) return false;
  return undefined;
}

/** PostgreSQL's units of time settings (what SHOW prints, what SET takes). */
const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A time setting's text (`0`, `500ms`, `2 s`, `1min`, `1.5h`, `1d`) in milliseconds; a bare number is milliseconds. */
export function parsePgDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * TIME_UNITS_MS[match[2] ?? 'ms']!;
}

/** PostgreSQL's units of memory settings whose base unit is the kilobyte (case matters, as in PostgreSQL). */
const MEMORY_UNITS_KB: Record<string, number> = { B: 1 / 1024, kB: 1, MB: 1024, GB: 1024 ** 2, TB: 1024 ** 3 };

/**
 * A memory setting's text (`64`, `4096kB`, `32MB`, `1.5 GB`, `-1`) in kilobytes, rounded as PostgreSQL rounds
 * it; a bare number is kilobytes. Undefined for text PostgreSQL might read otherwise (hexadecimal, octal).
 */
export function parsePgMemoryKb(text: string): number | undefined {
  const match = /^(-?(?:0|[1-9]\d*)(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * MEMORY_UNITS_KB[match[2] ?? 'kB']!);
}
