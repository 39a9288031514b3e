import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { scrubText } from '../lib/scrub.js';
import type { Store } from '../store/types.js';
import { bearerMatches, challenge, listenProblem } from './auth.js';
import { PAGE_CSP, statusPage, type PageControls } from './page.js';
import { statusDocument, type CallbackLink } from './status.js';

export interface ServerDeps {
  store: Store;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  /** True once the first round of passes is done. */
  ready: () => boolean;
  /** False while Postgres is unreachable (readiness fails, the status page says so). */
  storeUp?: () => boolean;
  /** Seconds since the loop last completed a wake-up; /healthz fails past livenessTimeoutSeconds. */
  sinceLastWake?: () => number | undefined;
  livenessTimeoutSeconds?: number;
  /**
   * server.token: when set, every route but /healthz and /readyz requires
   * `Authorization: Bearer <token>`. Required to listen off loopback (the server refuses to start).
   */
  token?: string | undefined;
  /** Which subscriptions deliver to which callback target (the prober's current specs), for the cutoffs shown per subscription. */
  callbacks?: () => readonly CallbackLink[];
  /** Extra routes (the demo's break/mend buttons); behind the token like the status page. */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** Buttons on the status page (the demo's break and mend); `run` passes none. */
  controls?: PageControls;
}

/** Probes answer without the token: orchestrators call them without credentials, and they tell only ok or not. */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);
/** Actions shown on the status page. */
const HISTORY_ROWS = 50;

/**
 * /metrics, /healthz, /readyz and /status (HTML; JSON at /status.json, or with ?format=json
 * or Accept: application/json). Refuses to listen off loopback without a token.
 */
export async function startServer(host: string, port: number, deps: ServerDeps): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const problem = listenProblem(host, deps.token);
  if (problem) throw new Error(`refusing to serve: ${problem}`);
  const server = createServer((req, res) => {
    handle(req, res, deps).catch((err) => {
      deps.logger.error({ err: (err as Error).message, path: req.url }, 'status server error');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: ServerDeps): Promise<void> {
  const u = new URL(req.url ?? '/', 'http://localhost');
  if (deps.token !== undefined && !OPEN_PATHS.has(u.pathname) && !bearerMatches(req, deps.token)) {
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': challenge(req.headers.authorization !== undefined), 'cache-control': 'no-store' });
    res.end('unauthorized: send "Authorization: Bearer <server.token>"\n');
    return;
  }
  if (deps.extra && (await deps.extra(req, res))) return;
  switch (u.pathname) {
    case '/metrics': {
      const body = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(scrubText(body));
      return;
    }
    case '/healthz': {
      // Liveness is the loop's own: a database outage or a hanging provider does not fail it (the process could not fix those by restarting).
      const since = deps.sinceLastWake?.();
      const limit = deps.livenessTimeoutSeconds ?? 300;
      const stalled = since !== undefined && since > limit;
      res.writeHead(stalled ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(stalled ? `stalled: no wake-up completed for ${Math.round(since)} s (limit ${limit} s)\n` : 'ok\n');
      return;
    }
    case '/readyz': {
      const store = deps.storeUp?.() ?? true;
      const ok = store && deps.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : !store ? 'database unreachable: no pass runs until it answers\n' : 'starting: first reconcile pass not finished\n');
      return;
    }
    case '/status.json':
    case '/status':
    case '/': {
      if (deps.storeUp && !deps.storeUp()) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5', 'cache-control': 'no-store' });
        res.end('database unreachable: the status page reads Postgres; /metrics still answers from the last snapshot\n');
        return;
      }
      const doc = await statusDocument(deps.store, deps.clock.now(), { history: HISTORY_ROWS, ...(deps.callbacks ? { callbacks: deps.callbacks() } : {}) });
      const wantsJson = u.pathname === '/status.json' || u.searchParams.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
      if (wantsJson) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
        res.end(JSON.stringify(doc, null, 2));
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      res.end(statusPage(doc, { controls: deps.controls }));
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
  }
}
