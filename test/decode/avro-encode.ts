/** A minimal Avro binary encoder for tests: writes values for the schemas the tests use. */
export function zigzag(value: bigint): number[] {
  let n = value >= 0n ? value << 1n : (-value << 1n) - 1n;
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}

export const avro = {
  long: (value: bigint | number): number[] => zigzag(BigInt(value)),
  string: (value: string): number[] => {
    const bytes = [...Buffer.from(value, 'utf8')];
    return [...zigzag(BigInt(bytes.length)), ...bytes];
  },
  bytes: (value: Uint8Array): number[] => [...zigzag(BigInt(value.length)), ...value],
  double: (value: number): number[] => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return [...b];
  },
  float: (value: number): number[] => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    return [...b];
  },
  boolean: (value: boolean): number[] => [value ? 1 : 0],
};
