/**
 * Which fields' mappings found nothing in a table's first messages: a typo in a mapping path otherwise
 * gives a column that is NULL in every row, silently. Only the first SAMPLE_SIZE messages are looked at,
 * so what the sample costs per message stays tiny.
 */
import type { FieldDefinition } from '../catalog/definition.js';
import type { MappingMatches } from './decoder.js';

export const SAMPLE_SIZE = 1000;

export interface UnmatchedField {
  field: string;
  mapping: string;
}

export interface MappingVerdict {
  /** How many messages the verdict is over (SAMPLE_SIZE, or fewer when judged early). */
  messages: number;
  unmatched: UnmatchedField[];
}

export class MappingSample {
  private readonly counts: MappingMatches;
  private judged: MappingVerdict | undefined;

  constructor(
    private readonly fields: readonly FieldDefinition[],
    private readonly onVerdict: (verdict: MappingVerdict) => void,
  ) {
    this.counts = { messages: 0, perField: fields.map(() => 0) };
  }

  /** What a decoder counts into while the sample is open; undefined once it is judged. */
  get matches(): MappingMatches | undefined {
    return this.judged === undefined ? this.counts : undefined;
  }

  /** After a message was decoded with `matches`: judges the sample once it is full. */
  counted(): void {
    if (this.judged === undefined && this.counts.messages >= SAMPLE_SIZE) this.judge();
  }

  /** Judges what the sample holds now (a table whose first load read fewer messages), if it holds any. */
  judge(): void {
    if (this.judged !== undefined || this.counts.messages === 0) return;
    const unmatched = this.fields.filter((_, i) => this.counts.perField[i] === 0).map((field) => ({ field: field.name, mapping: field.mapping ?? field.name }));
    this.judged = { messages: this.counts.messages, unmatched };
    this.onVerdict(this.judged);
  }

  /** Takes a verdict reached elsewhere on the table's records (decoding them again for a changed definition). */
  adopt(verdict: MappingVerdict): void {
    if (this.judged !== undefined) return;
    this.judged = verdict;
    this.onVerdict(verdict);
  }

  /** The fields that matched nothing, once judged. */
  get verdict(): MappingVerdict | undefined {
    return this.judged;
  }
}
