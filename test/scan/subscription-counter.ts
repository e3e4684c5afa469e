import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** One SubscribeToShard call as the stand-in's HTTP/2 layer saw it. */
export interface SubscribeCall {
  shardId: string;
  consumerArn: string;
  /** The stand-in's answer: 200 opens a subscription. */
  status: number | undefined;
  /** ms (performance.now()) when the call was sent on, and when its stream closed (undefined while open). */
  openedAt: number;
  closedAt: number | undefined;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/**
 * A loopback relay in front of kinesis-mock that sees every SubscribeToShard: HTTP/1.1 connections (every other
 * call) are relayed byte for byte; HTTP/2 connections (subscriptions) are relayed stream by stream, each call
 * recorded with its shard, its answer and how long its event stream stayed open. A subscriber that dies closes
 * its connection, and with it the stand-in's stream, as it would at Kinesis.
 */
export class SubscriptionCounter {
  readonly calls: SubscribeCall[] = [];
  private server: Server | undefined;
  private readonly h2 = http2.createServer();
  private readonly sockets = new Set<Socket>();
  private readonly upstreams = new Set<ClientHttp2Session>();

  constructor(private readonly targetPort: number) {
    this.h2.on('session', (session) => {
      const upstream = http2.connect(`http://127.0.0.1:${this.targetPort}`);
      upstream.on('error', () => undefined);
      this.upstreams.add(upstream);
      session.on('error', () => undefined);
      session.on('close', () => {
        upstream.destroy();
        this.upstreams.delete(upstream);
      });
      upstream.on('close', () => session.destroy());
      session.on('stream', (stream, headers) => this.relay(stream, headers, upstream));
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** The calls the stand-in answered 200 (subscriptions that ran) of one shard. */
  subscriptionsOf(shardId: string): SubscribeCall[] {
    return this.calls.filter((call) => call.shardId === shardId && call.status === 200);
  }

  /** The most subscriptions of the shard the stand-in held open at one moment (from `since`, performance.now()). */
  mostAtOnce(shardId: string, since = 0): number {
    const now = performance.now();
    const edges = this.subscriptionsOf(shardId)
      .filter((call) => (call.closedAt ?? now) > since)
      .flatMap((call) => [
        { at: Math.max(call.openedAt, since), step: 1 },
        { at: call.closedAt ?? now, step: -1 },
      ])
      // A stream that closes as another opens at the same instant does not count as overlapping.
      .sort((a, b) => a.at - b.at || a.step - b.step);
    let open = 0;
    let most = 0;
    for (const edge of edges) {
      open += edge.step;
      most = Math.max(most, open);
    }
    return most;
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('error', () => undefined);
      client.on('close', () => this.sockets.delete(client));
      client.once('data', (first: Buffer) => {
        // The HTTP/2 server reads its sockets below the stream layer: it gets a connection of its own.
        const h2 = first.subarray(0, HTTP2_PREFACE.length).equals(HTTP2_PREFACE);
        const upstream = connect(h2 ? (this.h2.address() as AddressInfo).port : this.targetPort, '127.0.0.1');
        this.sockets.add(upstream);
        upstream.on('error', () => undefined);
        upstream.on('close', () => {
          this.sockets.delete(upstream);
          client.destroy();
        });
        client.on('close', () => upstream.destroy());
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((resolve) => this.h2.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  private relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, upstream: ClientHttp2Session): void {
    const body: Buffer[] = [];
    stream.on('error', () => undefined);
    stream.on('data', (chunk: Buffer) => body.push(chunk));
    stream.on('end', () => {
      const payload = Buffer.concat(body);
      let call: SubscribeCall | undefined;
      if (String(headers['x-amz-target'] ?? '').endsWith('.SubscribeToShard')) {
        const asked = JSON.parse(payload.toString('utf8')) as { ShardId: string; ConsumerARN: string };
        call = { shardId: asked.ShardId, consumerArn: asked.ConsumerARN, status: undefined, openedAt: performance.now(), closedAt: undefined };
        this.calls.push(call);
      }
      const sent: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(headers)) if (name !== ':scheme' && name !== ':authority') sent[name] = value;
      if (upstream.destroyed) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        if (call) call.closedAt = performance.now();
        return;
      }
      const onward = upstream.request(sent);
      const closed = (): void => {
        if (call && call.closedAt === undefined) call.closedAt = performance.now();
      };
      onward.on('error', () => undefined);
      onward.on('response', (answer) => {
        if (call) call.status = Number(answer[':status']);
        const back: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer)) if (!name.startsWith(':') || name === ':status') back[name] = value;
        if (!stream.destroyed) stream.respond(back);
      });
      onward.on('data', (chunk: Buffer) => {
        if (!stream.destroyed) stream.write(chunk);
      });
      onward.on('end', () => {
        if (!stream.destroyed) stream.end();
      });
      onward.on('close', () => {
        closed();
        if (!stream.destroyed) stream.close();
      });
      stream.on('close', () => {
        closed();
        if (!onward.destroyed) onward.close(http2.constants.NGHTTP2_CANCEL);
      });
      onward.end(payload);
    });
  }

  async close(): Promise<void> {
    for (const upstream of this.upstreams) upstream.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    this.h2.close();
  }
}
