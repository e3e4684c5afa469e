/**
 * COPY text written value by value into byte chunks (CopyWriter) is the same text as the rows' values written
 * one line per row (copyLine): escapes, NULL, any Unicode, values past a chunk's size, and a message's bytes
 * read as text (invalid UTF-8 replaced, NUL left out, a leading byte order mark left out).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyField, copyLine, CopyWriter, messageText } from '../../src/store/copy-text.js';

const special = fc.constantFrom('\\', '\t', '\n', '\r', '\u0000', 'é', '€', '😀', 'x');
const value = fc.oneof(
  fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(special, { maxLength: 30 }).map((chars) => chars.join('')),
);
const messageBytes = fc.oneof(
  fc.uint8Array({ maxLength: 60 }),
  fc.array(special, { maxLength: 30 }).map((chars) => Buffer.from(chars.join(''))),
  fc.array(special, { maxLength: 10 }).map((chars) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chars.join(''))])),
);

function written(write: (writer: CopyWriter) => void): Buffer {
  const writer = new CopyWriter();
  write(writer);
  const chunks = writer.done();
  expect(writer.bytes).toBe(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  return Buffer.concat(chunks);
}

describe('COPY text written into byte chunks', () => {
  it('is the text of copyLine, row by row', () => {
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 6 }), { maxLength: 20 }), (rows) => {
        const bytes = written((writer) => {
          for (const row of rows) {
            for (const field of row) writer.text(field);
            writer.endRow();
          }
        });
        expect(bytes.toString('utf8')).toBe(rows.map((row) => copyLine(row)).join(''));
      }),
    );
  });

  it("writes a message's bytes as the text messageText reads from them, escaped", () => {
    fc.assert(
      fc.property(fc.array(messageBytes, { minLength: 1, maxLength: 5 }), (messages) => {
        const bytes = written((writer) => {
          writer.plain('1');
          for (const message of messages) writer.message(message);
          writer.text(null);
          writer.endRow();
        });
        expect(bytes).toEqual(Buffer.from(copyLine(['1', ...messages.map(messageText), null])));
      }),
    );
  });

  it('goes on into new chunks of about 64 KiB, however large a value', () => {
    const large = 'ab\tc'.repeat(40_000);
    const rows = Array.from({ length: 3_000 }, (_, i) => [String(i), `row ${i} \\ é`, i % 500 === 0 ? large : null]);
    const writer = new CopyWriter();
    for (const row of rows) {
      for (const field of row) writer.text(field);
      writer.endRow();
    }
    const chunks = writer.done();
    expect(chunks.length).toBeGreaterThan(6);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(rows.map((row) => copyLine(row)).join(''));
    expect(copyField(large).length).toBeGreaterThan(1 << 16);
  });
});
