import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay in front of a Kinesis stand-in (or a PostgreSQL server) that can sever every
 * connection through it at once, HTTP/1.1 calls and HTTP/2 subscriptions alike: a subscription cut
 * mid-stream, as a network failure would; or send new connections elsewhere, as a failover would.
 */
export class TcpCutter {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  cuts = 0;

  constructor(private targetPort: number) {}

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** New connections go to `port` from now on (a failover behind one address); open ones are cut. */
  retarget(port: number): void {
    this.targetPort = port;
    this.cutAll();
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.open.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.open.delete(socket));
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** Destroys every open connection (both sides). */
  cutAll(): void {
    this.cuts += this.open.size;
    for (const socket of this.open) socket.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
