import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';

/** The parts of the SDK's HTTP request a SubscribeToShard call carries. */
interface OutgoingRequest {
  protocol: string;
  hostname: string;
  port?: number;
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The SDK passes either the DOM AbortSignal or its own, which only promises `aborted` and `onabort`. */
interface CallSignal {
  readonly aborted: boolean;
}

function whenAborted(signal: CallSignal | undefined, listener: () => void): () => void {
  const target = signal as (CallSignal & Partial<Pick<AbortSignal, 'addEventListener' | 'removeEventListener'>>) | undefined;
  if (!target?.addEventListener || !target.removeEventListener) return () => undefined;
  target.addEventListener('abort', listener, { once: true });
  return () => target.removeEventListener?.('abort', listener);
}

export interface SubscriptionHttp2HandlerOptions {
  /** No connection or no response headers within this long (ms) fails the call. */
  connectTimeoutMs: number;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    flat[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return flat;
}

function pathWithQuery(request: OutgoingRequest): string {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(request.query ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      pairs.push(one === null ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${encodeURIComponent(one)}`);
    }
  }
  return pairs.length === 0 ? request.path : `${request.path}?${pairs.join('&')}`;
}

function writeBody(stream: ClientHttp2Stream, body: unknown): void {
  if (body === undefined || body === null) stream.end();
  else if (typeof body === 'string' || body instanceof Uint8Array) stream.end(body);
  else if (typeof (body as Readable).pipe === 'function') (body as Readable).pipe(stream);
  else throw new Error('SubscribeToShard: unsupported request body');
}

/**
 * The HTTP/2 transport of SubscribeToShard: one session per subscription, closed only once the
 * subscription's stream has ended. The SDK's own NodeHttp2Handler closes an event stream's session
 * (sends GOAWAY) as soon as the response starts; HTTP/2 lets the open stream go on, but kinesis-mock's
 * server (http4s ember) ends every open stream on a GOAWAY and answers it with an unsolicited PING ACK,
 * which Node takes as a protocol error: every subscription would fail before its first event.
 * Ordinary Kinesis calls stay on HTTP/1.1 (kinesis/client.ts).
 */
export class SubscriptionHttp2Handler {
  readonly metadata = { handlerProtocol: 'h2' };
  private readonly sessions = new Set<ClientHttp2Session>();

  constructor(private readonly options: SubscriptionHttp2HandlerOptions) {}

  handle(request: OutgoingRequest, handlerOptions: { abortSignal?: CallSignal } = {}): Promise<{ response: unknown }> {
    const signal = handlerOptions.abortSignal;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(Object.assign(new Error('SubscribeToShard aborted'), { name: 'AbortError' }));
        return;
      }
      const authority = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}`;
      const session = http2.connect(authority);
      this.sessions.add(session);
      let answered = false;
      const fail = (error: Error): void => {
        clearTimeout(timer);
        if (!answered) {
          answered = true;
          reject(error);
        }
        session.destroy();
      };
      const timer = setTimeout(() => {
        fail(Object.assign(new Error(`SubscribeToShard got no answer within ${this.options.connectTimeoutMs} ms`), { name: 'TimeoutError' }));
      }, this.options.connectTimeoutMs);
      session.on('error', fail);
      session.on('close', () => {
        this.sessions.delete(session);
        fail(Object.assign(new Error('SubscribeToShard connection closed before an answer'), { name: 'TimeoutError' }));
      });
      const forgetAbort = whenAborted(signal, () => fail(Object.assign(new Error('SubscribeToShard aborted'), { name: 'AbortError' })));
      const { host: _host, ...headers } = request.headers;
      const stream = session.request({
        ...headers,
        ':method': request.method,
        ':path': pathWithQuery(request),
        ':authority': request.headers['host'] ?? request.hostname,
      });
      stream.on('error', fail);
      stream.on('close', () => {
        forgetAbort();
        session.destroy();
      });
      stream.on('response', (responseHeaders) => {
        clearTimeout(timer);
        answered = true;
        resolve({ response: { statusCode: Number(responseHeaders[':status'] ?? -1), headers: flattenHeaders(responseHeaders), body: stream } });
      });
      writeBody(stream, request.body);
    });
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
  }
}
