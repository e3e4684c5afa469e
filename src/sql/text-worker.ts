/**
 * A worker thread that analyses client SQL (statement-text.ts) off the main thread. Its answer is plain
 * data: the analysis, each statement's scan bounds worked out here (statement-bounds.ts: the parse trees
 * stay in this thread), and how long it took. After a parser fault the worker says so and is replaced.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { codecNamed } from '../pg/client-encoding.js';
import { describeError, initParser, parserFaulted } from './parse.js';
import type { GateContext } from './readonly-gate.js';
import { precomputeBounds, type PrecomputedBounds } from './statement-bounds.js';
import { analyzeText, type TextAnalysis } from './statement-text.js';
import { currentThreadId } from './thread-cpu.js';

/** A statement's text as the client sent it, decoded here rather than on the main thread. */
export interface EncodedSql {
  bytes: Uint8Array;
  /** PostgreSQL's name of the client encoding (client-encoding.ts). */
  encoding: string;
}

export type TextRequest = { id: number; kind: 'analyze'; gate: GateContext; at: number } & ({ sql: string } | { encoded: EncodedSql });

export interface WorkerAnalysis {
  analysis: TextAnalysis;
  /** Per statement (by index): the bounds it puts on the tables it names. */
  bounds: PrecomputedBounds[];
}

export type TextReply =
  | { id: number; result: WorkerAnalysis; ms: number; bytes: number; chars: number; faulted: boolean }
  | { id: number; error: string; faulted: boolean }
  | { id: 0; ready: true; tid: number | undefined };

function decode({ bytes, encoding }: EncodedSql): string {
  const codec = codecNamed(encoding);
  if (!codec) throw new Error(`unknown client encoding ${encoding}`);
  return codec.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
}

const port = parentPort;
if (!port) throw new Error('text-worker must run in a worker thread');
// Linux gives each thread its own priority. The lowest one (19, weight 15 against 1,024 at 0) lets the thread serving
// every session and the engine's backends preempt a worker at once when cores are short; at 10 (weight 110) another
// user's select 1 under a flood of 255 KB statements measured p99 13.6 and 28.3 ms against 5.7 and 11.9 at 19.
try {
  setPriority(19);
} catch {
  // Not allowed here (some containers): the worker runs at the process's priority.
}
await initParser();
// The parser's code is compiled on first use: done before the first statement's time budget starts.
analyzeText(`select a, b from s.t where _message_timestamp >= now() - interval '1 hour' and b in (1, 2)`);
port.on('message', (request: TextRequest) => {
  const started = performance.now();
  try {
    const sql = 'sql' in request ? request.sql : decode(request.encoded);
    const { analysis, statements } = analyzeText(sql, request.gate);
    const bounds = statements.map((statement, index) =>
      precomputeBounds(
        statement.node,
        analysis.relations.filter((relation) => relation.statement === index).map((relation) => relation.relation),
        request.at,
      ),
    );
    const ms = performance.now() - started;
    port.postMessage({
      id: request.id,
      result: { analysis, bounds },
      ms,
      bytes: 'sql' in request ? Buffer.byteLength(sql) : request.encoded.bytes.length,
      chars: sql.length,
      faulted: parserFaulted(),
    } satisfies TextReply);
  } catch (error) {
    port.postMessage({ id: request.id, error: describeError(error), faulted: true } satisfies TextReply);
  }
});
port.postMessage({ id: 0, ready: true, tid: currentThreadId() } satisfies TextReply);
