/** Kinesis sequence numbers are decimal strings of up to 128 bits; order them as numbers. */
export function compareSequenceNumbers(a: string, b: string): number {
  if (a.length !== b.length && !/^0/.test(a) && !/^0/.test(b)) return a.length < b.length ? -1 : 1;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
