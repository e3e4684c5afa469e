import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageChannel } from 'node:worker_threads';
import { FrontendReader, type FrontendMessage, ProtocolViolation } from '../../src/wire/frontend-reader.js';

function query(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = 0x51;
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

function startup(): Buffer {
  const body = Buffer.from('user\0u\0\0', 'utf8');
  const packet = Buffer.alloc(8 + body.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(196608, 4);
  body.copy(packet, 8);
  return packet;
}

describe('FrontendReader', () => {
  afterEach(() => vi.restoreAllMocks());

  it('copies a large message a bounded number of times however many pieces it arrives in', () => {
    const message = query(`select '${'x'.repeat(8 * 1024 * 1024)}'`);
    const reader = new FrontendReader(64 * 1024 * 1024);
    reader.push(startup());
    expect(reader.nextStartupPacket()).toMatchObject({ kind: 'startup' });
    const concat = vi.spyOn(Buffer, 'concat');
    const piece = 16 * 1024;
    for (let offset = 0; offset < message.length; offset += piece) {
      reader.push(message.subarray(offset, offset + piece));
      if (offset + piece < message.length) expect(reader.nextMessage()).toBeUndefined();
    }
    const read = reader.nextMessage();
    expect(read?.raw.equals(message)).toBe(true);
    const copied = concat.mock.results.reduce((sum, result) => sum + (result.value as Buffer).length, 0);
    // One join of the pieces (the old reader copied everything received so far on every piece: ~1000× here).
    expect(copied).toBeLessThanOrEqual(2 * message.length);
  });

  it('assembles a message of megabytes as its pieces arrive, never joining it in one go, and reads what follows it', () => {
    const large = query(`select '${'y'.repeat(3 * 1024 * 1024)}'`);
    const next = query('select 1');
    const stream = Buffer.concat([large, next]);
    const reader = new FrontendReader(64 * 1024 * 1024);
    reader.push(startup());
    expect(reader.nextStartupPacket()).toMatchObject({ kind: 'startup' });
    const concat = vi.spyOn(Buffer, 'concat');
    const read = [];
    const piece = 60_000;
    for (let offset = 0; offset < stream.length; offset += piece) {
      reader.push(stream.subarray(offset, offset + piece));
      for (let message = reader.nextMessage(); message; message = reader.nextMessage()) read.push(message);
    }
    expect(read.map((message) => message.raw.equals(large) || message.raw.equals(next))).toEqual([true, true]);
    expect(read[1]!.raw.equals(next)).toBe(true);
    const joined = concat.mock.results.reduce((sum, result) => sum + (result.value as Buffer).length, 0);
    expect(joined).toBeLessThan(piece * 2);
  });

  it('assembles a message of megabytes where a worker thread reads it without a copy', async () => {
    const large = query(`select '${'z'.repeat(2 * 1024 * 1024)}'`);
    const reader = new FrontendReader(64 * 1024 * 1024);
    reader.push(startup());
    expect(reader.nextStartupPacket()).toMatchObject({ kind: 'startup' });
    let read: FrontendMessage | undefined;
    for (let offset = 0; offset < large.length; offset += 64 * 1024) {
      reader.push(large.subarray(offset, offset + 64 * 1024));
      read = reader.nextMessage();
    }
    const { body } = read!;
    // Handed over as the parse pool hands SQL to its workers; a byte changed here afterwards is seen there.
    const { port1, port2 } = new MessageChannel();
    const received = new Promise<Uint8Array>((resolve) => port2.once('message', resolve));
    port1.postMessage(body);
    const there = await received;
    body[10] = 'Z'.charCodeAt(0);
    expect(String.fromCharCode(there[10]!)).toBe('Z');
    port1.close();
  });

  it('refuses a message over the limit from its header alone, before its body arrives', () => {
    const reader = new FrontendReader(10_000);
    reader.push(startup());
    reader.nextStartupPacket();
    const header = Buffer.alloc(5);
    header[0] = 0x70;
    header.writeInt32BE(60 * 1024 * 1024, 1);
    reader.push(header);
    expect(() => reader.nextMessage()).toThrow(ProtocolViolation);
  });

  it('takes many small messages out of one chunk without joining anything', () => {
    const reader = new FrontendReader(1024);
    reader.push(startup());
    reader.nextStartupPacket();
    const messages = Array.from({ length: 1000 }, (_, i) => query(`select ${i}`));
    reader.push(Buffer.concat(messages));
    const concat = vi.spyOn(Buffer, 'concat');
    const read = [];
    for (let message = reader.nextMessage(); message; message = reader.nextMessage()) read.push(message.body.toString('utf8', 0, message.body.length - 1));
    expect(read).toEqual(messages.map((_, i) => `select ${i}`));
    expect(concat).not.toHaveBeenCalled();
  });
});
