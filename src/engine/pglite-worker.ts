/**
 * The worker thread that owns the PGlite instance. A running query blocks this thread, not the wire server.
 * Reply bytes of protocol messages are streamed back in chunks; when the main thread has not yet written
 * enough of them to client sockets, this thread waits, so a huge result never piles up in memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import type { EngineReply, EngineRequest, WorkerInit } from './worker-messages.js';

const init = workerData as WorkerInit;
const inFlight = new Int32Array(init.inFlight);
const port = parentPort;
if (!port) throw new Error('pglite-worker must run in a worker thread');

const db = await PGlite.create({ dataDir: init.dataDir });

function reply(message: EngineReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function waitForRoom(): void {
  for (;;) {
    const current = Atomics.load(inFlight, 0);
    if (current <= init.highWaterBytes) return;
    Atomics.wait(inFlight, 0, current, 1000);
  }
}

function describeError(error: unknown): EngineReply & { kind: 'failed' } {
  const e = error as { message?: string; code?: string; detail?: string; position?: string };
  return {
    id: 0,
    kind: 'failed',
    error: {
      message: e.message ?? String(error),
      ...(e.code !== undefined ? { code: e.code } : {}),
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
      ...(e.position !== undefined ? { position: e.position } : {}),
    },
  };
}

async function handle(request: EngineRequest): Promise<void> {
  switch (request.kind) {
    case 'query': {
      const result = await db.query<Record<string, unknown>>(request.sql, request.params);
      reply({ id: request.id, kind: 'rows', rows: result.rows, affectedRows: result.affectedRows ?? 0 });
      return;
    }
    case 'exec': {
      await db.exec(request.sql);
      reply({ id: request.id, kind: 'done' });
      return;
    }
    case 'copy-from': {
      const result = await db.query(request.sql, [], { blob: new Blob([request.data as Uint8Array<ArrayBuffer>]) });
      reply({ id: request.id, kind: 'rows', rows: [], affectedRows: result.affectedRows ?? 0 });
      return;
    }
    case 'protocol': {
      await db.execProtocolRawStream(request.message, {
        onRawData: (data) => {
          waitForRoom();
          const copy = data.slice();
          Atomics.add(inFlight, 0, copy.byteLength);
          reply({ id: request.id, kind: 'chunk', data: copy }, [copy.buffer as ArrayBuffer]);
        },
      });
      reply({ id: request.id, kind: 'done' });
      return;
    }
    case 'close': {
      await db.close();
      reply({ id: request.id, kind: 'done' });
      port!.close();
      return;
    }
  }
}

// Requests are handled strictly one at a time, in arrival order.
let queue: Promise<void> = Promise.resolve();
port.on('message', (request: EngineRequest) => {
  queue = queue.then(() =>
    handle(request).catch((error: unknown) => reply({ ...describeError(error), id: request.id })),
  );
});
reply({ id: 0, kind: 'done' });
