import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../lib/clock.js';
import { formatDuration } from '../domain/duration.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { scrubText } from '../lib/scrub.js';
import type { Store } from '../store/types.js';
import { statusDocument, type StatusRow, type TargetRow } from './status.js';

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
  /** Extra routes (the demo's break/mend buttons). */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** Extra HTML for the status page. */
  banner?: string;
}

/** /metrics, /healthz, /readyz and /status (HTML, or JSON with ?format=json or Accept: application/json). */
export async function startServer(host: string, port: number, deps: ServerDeps): Promise<{ server: Server; url: string; close(): Promise<void> }> {
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
    case '/status':
    case '/': {
      if (deps.storeUp && !deps.storeUp()) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
        res.end('database unreachable: the status page reads Postgres; /metrics still answers from the last snapshot\n');
        return;
      }
      const doc = await statusDocument(deps.store, deps.clock.now(), { history: 30 });
      const wantsJson = u.searchParams.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
      if (wantsJson) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc, null, 2));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(statusHtml(doc, deps.clock.now(), deps.banner));
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
  }
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function relative(iso: string | null, now: Date): string {
  if (!iso) return '';
  const s = (Date.parse(iso) - now.getTime()) / 1000;
  return s >= 0 ? `in ${formatDuration(s)}` : `${formatDuration(-s)} ago`;
}

function statusHtml(doc: Awaited<ReturnType<typeof statusDocument>>, now: Date, banner = ''): string {
  const row = (s: StatusRow) => `<tr class="${esc(s.state)}">
  <td>${esc(s.provider)}</td><td>${esc(s.name)}</td><td><span class="state">${esc(s.state)}</span></td>
  <td><code>${esc(s.remoteId ?? '')}</code>${s.previousRemoteId ? `<br><small>was <code>${esc(s.previousRemoteId)}</code></small>` : ''}</td>
  <td title="${esc(s.expiresAt)}">${esc(relative(s.expiresAt, now))}</td>
  <td title="${esc(s.nextCheckAt)}">${esc(relative(s.nextCheckAt, now))}</td>
  <td>${s.lastError ? `<span class="err">${esc(s.lastErrorCode)}: ${esc(s.lastError)}</span>` : ''}</td></tr>`;
  const target = (t: TargetRow) => `<tr class="${esc(t.health)}">
  <td>${esc(t.provider)}</td><td>${esc(t.name)}</td><td><span class="state">${esc(t.health)}</span></td><td>${esc(t.consecutiveFailures)}</td>
  <td title="${esc(t.unhealthySince)}">${esc(relative(t.unhealthySince, now))}</td>
  <td title="${esc(t.disableAt)}">${esc(relative(t.disableAt, now))}</td>
  <td title="${esc(t.deleteAt)}">${esc(relative(t.deleteAt, now))}</td>
  <td title="${esc(t.lastProbeAt)}">${t.lastLatencyMs !== null ? `${esc(t.lastLatencyMs)} ms` : ''}</td>
  <td>${t.lastFailureReason ? `<span class="err">${esc(t.lastFailureClass)}: ${esc(t.lastFailureReason)}</span> <small>${esc(relative(t.lastFailureAt, now))}</small>` : ''}</td></tr>`;
  // An intent row is shown only while it has no outcome (a call under way, or cut short).
  const settled = new Set((doc.history ?? []).filter((h) => h.phase !== 'intent').map((h) => h.actionId));
  const hist = (doc.history ?? [])
    .filter((h) => h.phase !== 'intent' || !settled.has(h.actionId))
    .map((h) => `<tr><td>${esc(h.at)}</td><td>${esc(h.provider)}</td><td>${esc(h.name)}</td><td>${esc(h.action)}</td><td>${esc(h.reason)}</td><td>${esc(h.phase)}</td><td>${esc(h.error ?? h.message)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>hookwarden status</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:2em;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.state{padding:.1em .5em;border-radius:.6em;background:#ddd}
tr.active .state{background:#c8f0c8}tr.failing .state,tr.rejected .state{background:#f6c6c6}
tr.inactive .state,tr.pending .state,tr.failing .state{background:#f8e6b0}tr.deleted{color:#999}
tr.healthy .state{background:#c8f0c8}tr.unhealthy .state,tr.disabled .state,tr.presumed-disabled .state,tr.presumed-deleted .state{background:#f6c6c6}
.err{color:#a00}code{font-size:12px}
</style></head><body>
<h1>hookwarden</h1>
<p>${esc(now.toISOString())} · <a href="/status?format=json">JSON</a> · <a href="/metrics">metrics</a></p>
${banner}
<h2>Subscriptions</h2>
<table><tr><th>Provider</th><th>Name</th><th>State</th><th>Remote id</th><th>Expires</th><th>Next check</th><th>Last error</th></tr>
${doc.subscriptions.map(row).join('\n') || '<tr><td colspan="7">nothing recorded yet</td></tr>'}
</table>
${doc.leases.some((l) => l.held) ? `<h2>Replicas</h2>
<table><tr><th>Provider</th><th>Held by</th><th>Since</th><th>Until</th></tr>
${doc.leases.filter((l) => l.held).map((l) => `<tr><td>${esc(l.provider)}</td><td><code>${esc(l.holder)}</code></td><td>${esc(l.since)}</td><td>${esc(relative(l.expiresAt, now))}</td></tr>`).join('\n')}
</table>` : ''}
<h2>Callbacks</h2>
<table><tr><th>Provider</th><th>Target</th><th>Health</th><th>Failures</th><th>Unhealthy since</th><th>Provider disables</th><th>Provider deletes</th><th>Latency</th><th>Last failure</th></tr>
${doc.targets.map(target).join('\n') || '<tr><td colspan="9">no callbacks probed</td></tr>'}
</table>
${doc.deliveries.length ? `<h2>Deliveries (as the provider reports them)</h2>
<table><tr><th>Provider</th><th>Subscription</th><th>Event</th><th>Last delivery</th><th>Result</th><th>Last failure</th></tr>
${doc.deliveries.map((d) => `<tr class="${d.kind === 'none' ? 'pending' : d.success ? 'healthy' : 'failing'}"><td>${esc(d.provider)}</td><td>${esc(d.name)}</td><td>${esc(d.event)}</td><td title="${esc(d.deliveredAt)}">${d.kind === 'none' ? 'no recent delivery' : esc(relative(d.deliveredAt, now))}</td><td>${d.kind === 'none' ? '' : `<span class="state">${d.success ? 'ok' : 'failed'}</span> ${esc(d.responseCode)} ${esc(d.responseText)}`}</td><td>${d.lastFailureAt ? `<span class="err">${esc(d.lastFailureCode)} ${esc(d.lastFailureText)}</span> <small>${esc(relative(d.lastFailureAt, now))}</small>` : ''}</td></tr>`).join('\n')}
</table>` : ''}
<h2>Recent actions</h2>
<table><tr><th>At</th><th>Provider</th><th>Name</th><th>Action</th><th>Reason</th><th>Phase</th><th>Message</th></tr>
${hist}
</table>
</body></html>`;
}
