import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, requestJson, type RequestAttempt } from '../../src/lib/http.js';
import { Metrics } from '../../src/lib/metrics.js';

/**
 * Provider requests are metered where they all pass (requestJson, through the dispatcher):
 * every attempt, retries included, by operation and status class.
 */
describe('provider request metrics', () => {
  let server: Server;
  let base: string;
  const plan = new Map<string, number[]>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      if (req.url === '/hang') return; // never answers
      const statuses = plan.get(req.url ?? '') ?? [];
      const status = statuses.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '0' } : {}) }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const dispatcher = createDispatcher({ maxRetryWaitMs: 50 });
  const call = (path: string, extra: Partial<Parameters<typeof requestJson>[1]> = {}, d = dispatcher) => {
    const seen: RequestAttempt[] = [];
    const p = requestJson(d, { method: 'GET', url: base + path, timeoutMs: 5000, operation: `test: GET ${path}`, op: 'list', observe: (a) => seen.push(a), ...extra });
    return { p, seen };
  };
  const classes = (seen: RequestAttempt[]) => seen.map((a) => `${a.op} ${a.statusClass}${a.status ? ` ${a.status}` : ''}`);

  it('reports each attempt, retries included, with its status class', async () => {
    plan.set('/retried', [429, 503]);
    const { p, seen } = call('/retried');
    expect((await p).status).toBe(200);
    expect(classes(seen)).toEqual(['list 4xx 429', 'list 5xx 503', 'list 2xx 200']);
    for (const a of seen) expect(a.seconds).toBeGreaterThanOrEqual(0);
  });

  it('reports an answer the caller treats as an error like any other (4xx), once: POST is not retried', async () => {
    plan.set('/refused', [400]);
    const { p, seen } = call('/refused', { method: 'POST', json: {}, op: 'create' });
    expect((await p).status).toBe(400);
    expect(classes(seen)).toEqual(['create 4xx 400']);
  });

  it('reports no answer in time as a timeout, a refused connection as network, and the caller giving up as aborted', async () => {
    const slow = call('/hang', { timeoutMs: 200, op: 'get' });
    await expect(slow.p).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' });
    expect(classes(slow.seen)).toEqual(['get timeout']);

    const refused = call('/x', { url: 'http://127.0.0.1:1/x', method: 'POST', op: 'create' });
    await expect(refused.p).rejects.toMatchObject({ code: 'PROVIDER_NETWORK' });
    expect(classes(refused.seen)).toEqual(['create network']);

    const ac = new AbortController();
    const aborted = call('/hang', { signal: ac.signal, op: 'renew', method: 'POST' });
    setTimeout(() => ac.abort(), 50);
    await expect(aborted.p).rejects.toThrow();
    expect(classes(aborted.seen)).toEqual(['renew aborted']);
  });

  it('with a dispatcher that does not meter attempts (an injected one), reports the request once', async () => {
    const plain = new Agent();
    try {
      const { p, seen } = call('/plain', { op: 'delete' }, plain);
      await p;
      expect(classes(seen)).toEqual(['delete 2xx 200']);
    } finally {
      await plain.close();
    }
  });

  it('the account observer feeds the counter, the histogram and the 429 counter', async () => {
    const metrics = new Metrics(undefined, { defaultMetrics: false });
    const observe = metrics.providerRequestObserver('support');
    plan.set('/limited', [429]);
    await requestJson(dispatcher, { method: 'GET', url: `${base}/limited`, timeoutMs: 5000, operation: 'test', op: 'list', observe });
    const text = await metrics.registry.metrics();
    expect(text).toContain('hookwarden_provider_requests_total{provider="support",operation="list",status_class="4xx"} 1');
    expect(text).toContain('hookwarden_provider_requests_total{provider="support",operation="list",status_class="2xx"} 1');
    expect(text).toContain('hookwarden_provider_request_duration_seconds_count{provider="support",operation="list",status_class="2xx"} 1');
    expect(text).toContain('hookwarden_provider_rate_limited_total{provider="support"} 1');
    // Counters alerts watch start at 0 for the account.
    expect(text).toContain('hookwarden_renewals_total{provider="support",result="failure"} 0');
    expect(text).toContain('hookwarden_provider_errors_total{provider="support",code="PROVIDER_AUTH_FAILED"} 0');
  });

  it('actions count as renewals or recreations by result; config reloads set their gauges', async () => {
    const metrics = new Metrics(undefined, { defaultMetrics: false });
    metrics.recordAction('infinity', { action: 'renew', reason: 'renewal-due' }, 'succeeded', false);
    metrics.recordAction('infinity', { action: 'reactivate', reason: 'inactive' }, 'failed', false);
    metrics.recordAction('infinity', { action: 'recreate', reason: 'lost-at-provider' }, 'failed', true);
    metrics.recordAction('infinity', { action: 'create', reason: 'missing' }, 'succeeded', false);
    expect(await metrics.registry.metrics()).toContain('hookwarden_config_last_reload_success 1');
    metrics.recordConfigReload(false, new Date(1_800_000_000_000));
    const text = await metrics.registry.metrics();
    expect(text).toContain('hookwarden_renewals_total{provider="infinity",result="success"} 1');
    expect(text).toContain('hookwarden_renewals_total{provider="infinity",result="failure"} 1');
    expect(text).toContain('hookwarden_recreations_total{provider="infinity",reason="lost-at-provider",result="failure"} 1');
    expect(text).toContain('hookwarden_actions_total{provider="infinity",action="create",reason="missing",outcome="succeeded"} 1');
    expect(text).toContain('hookwarden_config_reloads_total{result="failure"} 1');
    expect(text).toContain('hookwarden_config_reloads_total{result="success"} 0');
    expect(text).toContain('hookwarden_config_last_reload_success 0');
    expect(text).toContain('hookwarden_config_last_reload_timestamp_seconds 1800000000');
  });
});
