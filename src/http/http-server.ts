/**
 * The operator's HTTP port (kinesql.http-port): `/` a status page for people, `/metrics` for Prometheus, `/healthz` (the process is alive)
 * and `/readyz` (it can answer statements: engine up, definitions loaded, no stream in error) with status
 * codes load balancers and Kubernetes probes understand.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { listenTcp } from './listen.js';
import type { KinesqlMetrics } from './metrics.js';
import { renderStatusPage } from './status-page.js';
import type { StatusReport } from './status-model.js';

/** Why kinesql is not ready, or an empty list when it is. */
import type { Readiness } from './readiness.js';
export type ReadinessCheck = () => Promise<Readiness>;

export class HttpServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: KinesqlMetrics,
    private readonly readiness: ReadinessCheck,
    private readonly status: StatusReport,
    private readonly logger: Logger,
  ) {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const answer = (status: number, contentType: string, body: string): void => {
        response.writeHead(status, { 'content-type': contentType });
        response.end(request.method === 'HEAD' ? undefined : body);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') return answer(405, 'text/plain', 'method not allowed\n');
      if (path === '/healthz') return answer(200, 'text/plain', 'ok\n');
      if (path === '/readyz') {
        this.readiness().then(
          (state) => answer(state.ready ? 200 : 503, 'application/json', `${JSON.stringify(state)}\n`),
          (error: unknown) => answer(503, 'application/json', `${JSON.stringify({ ready: false, problems: [(error as Error).message], tables: [] })}\n`),
        );
        return;
      }
      if (path === '/metrics') {
        this.metrics.registry.metrics().then(
          (text) => answer(200, this.metrics.registry.contentType, text),
          (error: unknown) => {
            this.logger.warn({ err: error }, 'metrics could not be collected');
            answer(500, 'text/plain', `metrics could not be collected: ${(error as Error).message}\n`);
          },
        );
        return;
      }
      if (path === '/') {
        this.status.gather().then(
          (model) => answer(200, 'text/html; charset=utf-8', renderStatusPage(model)),
          (error: unknown) => {
            this.logger.warn({ err: error }, 'status page could not be gathered');
            answer(500, 'text/plain', `status could not be gathered: ${(error as Error).message}\n`);
          },
        );
        return;
      }
      answer(404, 'text/plain', 'not found: /, /metrics, /healthz and /readyz are served here\n');
    });
  }

  listen(port: number, host: string): Promise<{ port: number; host: string }> {
    return listenTcp(this.server, port, host);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
