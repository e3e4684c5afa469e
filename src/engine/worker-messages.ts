/** Messages between the Engine (main thread) and the PGlite worker thread. */
export type EngineRequest =
  | { id: number; kind: 'query'; sql: string; params: unknown[] }
  | { id: number; kind: 'exec'; sql: string }
  | { id: number; kind: 'copy-from'; sql: string; data: Uint8Array }
  | { id: number; kind: 'protocol'; message: Uint8Array }
  | { id: number; kind: 'close' };

export type EngineReply =
  | { id: number; kind: 'rows'; rows: Record<string, unknown>[]; affectedRows: number }
  | { id: number; kind: 'chunk'; data: Uint8Array }
  | { id: number; kind: 'done' }
  | { id: number; kind: 'failed'; error: { message: string; code?: string; detail?: string; position?: string } };

export interface WorkerInit {
  dataDir: string;
  /** Shared counter of reply bytes posted but not yet consumed; the worker waits while it is above highWaterBytes. */
  inFlight: SharedArrayBuffer;
  highWaterBytes: number;
}
