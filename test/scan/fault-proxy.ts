import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one call instead of (or before) forwarding it. */
export type Fault = 'throttle' | 'limit' | 'server-error' | 'reset' | 'slow' | 'expired-iterator' | 'hang' | undefined;

export interface CallRecord {
  operation: string;
  /** When the proxy received the call (ms since the epoch). */
  at: number;
  /** GetShardIterator: the shard asked for; GetRecords: the shard its iterator reads. */
  shardId?: string;
  iteratorType?: string;
  /** GetRecords: the records in the answer, once it went out to a client still waiting for it. */
  records?: number;
  fault?: Fault;
}

/**
 * A loopback HTTP proxy in front of a Kinesis stand-in that counts the calls and records that go
 * through it and injects the failures real Kinesis produces (neither emulator does).
 */
export class FaultProxy {
  target = '';
  readonly calls: CallRecord[] = [];
  decide: (operation: string, call: number) => Fault = () => undefined;
  slowMs = 1_500;
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  /** The shard each iterator the stand-in handed out reads (iterators are opaque). */
  private readonly shardOfIterator = new Map<string, string>();

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** Calls of one operation since the last reset. */
  count(operation: string): number {
    return this.calls.filter((call) => call.operation === operation && call.fault === undefined).length;
  }

  recordsRead(): number {
    return this.calls.reduce((sum, call) => sum + (call.records ?? 0), 0);
  }

  reset(): void {
    this.calls.length = 0;
  }

  /** GetRecords calls answered for one shard, with their times. */
  getRecordsOf(shardId: string): CallRecord[] {
    return this.calls.filter((call) => call.operation === 'GetRecords' && call.fault === undefined && call.shardId === shardId);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    const record: CallRecord = { operation, at: Date.now() };
    if (operation === 'GetShardIterator') {
      const parsed = JSON.parse(body.toString('utf8')) as { ShardId?: string; ShardIteratorType?: string };
      record.shardId = parsed.ShardId;
      record.iteratorType = parsed.ShardIteratorType;
    }
    if (operation === 'GetRecords') {
      const shardId = this.shardOfIterator.get((JSON.parse(body.toString('utf8')) as { ShardIterator?: string }).ShardIterator ?? '');
      if (shardId !== undefined) record.shardId = shardId;
    }
    const fault = this.decide(operation, this.calls.filter((c) => c.operation === operation).length);
    if (fault) record.fault = fault;
    this.calls.push(record);
    const error = (status: number, type: string): void => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: type, message: `injected ${type}` }));
    };
    switch (fault) {
      case 'throttle':
        return error(400, 'ProvisionedThroughputExceededException');
      case 'limit':
        return error(400, 'LimitExceededException');
      case 'server-error':
        return error(500, 'InternalFailure');
      case 'expired-iterator':
        return error(400, 'ExpiredIteratorException');
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        this.hanging.add(res);
        return;
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, this.slowMs));
        if (req.socket.destroyed) return;
        break;
      default:
        break;
    }
    const url = new URL(req.url ?? '/', this.target);
    const upstream = request(url, { method: req.method, headers: req.headers }, (answer) => {
      const parts: Buffer[] = [];
      answer.on('data', (part: Buffer) => parts.push(part));
      answer.on('end', () => {
        const payload = Buffer.concat(parts);
        if (operation === 'GetRecords' && answer.statusCode === 200) {
          const parsed = JSON.parse(payload.toString('utf8')) as { Records?: unknown[]; NextShardIterator?: string };
          // Counted once the answer is out: a client that gave up on a slow call (its timeout) never read these.
          res.once('finish', () => {
            record.records = parsed.Records?.length ?? 0;
          });
          if (parsed.NextShardIterator && record.shardId !== undefined) this.shardOfIterator.set(parsed.NextShardIterator, record.shardId);
        }
        if (operation === 'GetShardIterator' && answer.statusCode === 200 && record.shardId !== undefined) {
          const iterator = (JSON.parse(payload.toString('utf8')) as { ShardIterator?: string }).ShardIterator;
          if (iterator) this.shardOfIterator.set(iterator, record.shardId);
        }
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        res.end(payload);
      });
    });
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  }
}
