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
