import type { Socket } from 'node:net';

/** Writes backend bytes to a client socket; the returned promise waits while the socket's buffer is full. */
export type MessageSink = (bytes: Uint8Array) => Promise<void>;

export function socketSink(socket: Socket): MessageSink {
  return (bytes) => {
    if (socket.destroyed) return Promise.resolve();
    if (socket.write(bytes)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  };
}
