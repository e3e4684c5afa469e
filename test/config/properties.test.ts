import { describe, expect, it } from 'vitest';
import { parseProperties } from '../../src/config/properties.js';

const pairs = (text: string) => parseProperties(text).map(({ key, value }) => [key, value]);

describe('parseProperties', () => {
  it('skips # and ! comments and blank lines, and reports the line of each entry', () => {
    expect(parseProperties('# one\n! two\n\n   kinesis.batch-size=10\n')).toEqual([{ key: 'kinesis.batch-size', value: '10', line: 4 }]);
  });

  it('accepts =, : and whitespace as separators, with spaces around them', () => {
    expect(pairs('a=1\nb: 2\nc 3\n  d  =  4\ne\t5\nf=\ng')).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
      ['d', '4'],
      ['e', '5'],
      ['f', ''],
      ['g', ''],
    ]);
  });

  it('joins lines ending in a backslash and drops the continuation line indent', () => {
    const entries = parseProperties('list=a,\\\n    b,\\\n    c\nnext=1\n');
    expect(entries).toEqual([
      { key: 'list', value: 'a,b,c', line: 1 },
      { key: 'next', value: '1', line: 4 },
    ]);
  });

  it('decodes \\uXXXX and backslash escapes in keys and values', () => {
    expect(pairs('greeting=caf\\u00e9\nkey\\ with\\ spaces=x\\=y\npath=C:\\\\tmp\n')).toEqual([
      ['greeting', 'café'],
      ['key with spaces', 'x=y'],
      ['path', 'C:\\tmp'],
    ]);
  });

  it('handles CRLF files, a byte order mark and trailing spaces', () => {
    expect(parseProperties('\ufeffa=1  \r\nb=2\r\n')).toEqual([
      { key: 'a', value: '1', line: 1 },
      { key: 'b', value: '2', line: 2 },
    ]);
  });

  it('keeps a # inside a value', () => {
    expect(pairs('color=#fff\n')).toEqual([['color', '#fff']]);
  });
});
