/** The worker thread that parses very large client SQL (statement-text.ts) off the main thread; its analysis comes back as plain data. */
import { parentPort } from 'node:worker_threads';
import { initParser } from './parse.js';
import type { GateContext } from './readonly-gate.js';
import { analyzeText } from './statement-text.js';

export type TextRequest = { id: number; kind: 'analyze'; sql: string; gate: GateContext };
export type TextReply = { id: number; result: unknown } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('text-worker must run in a worker thread');
await initParser();
port.on('message', (request: TextRequest) => {
  try {
    const result = analyzeText(request.sql, request.gate).analysis;
    port.postMessage({ id: request.id, result } satisfies TextReply);
  } catch (error) {
    port.postMessage({ id: request.id, error: (error as Error).message } satisfies TextReply);
  }
});
port.postMessage({ id: 0, result: 'ready' } satisfies TextReply);
