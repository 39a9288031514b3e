import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { REDACTED, registerConfigSecrets } from '../../src/lib/scrub.js';
import { startServer, type ServerDeps } from '../../src/server/http.js';
import type { StatusDocument } from '../../src/server/status.js';
import { query } from '../fixtures/db.js';
import { startHealthStack, type HealthStack } from '../fixtures/health-stack.js';
import { startStack, type Stack } from '../fixtures/stack.js';

/** The HTTP server over loopback, against a real Postgres filled by a real reconcile pass. */

const TOKEN = 'status-token-0123456789abcdef';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ subs: [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }] });
  await stack.app.scheduler.tick();
});
afterAll(() => stack.close());

const deps = (s: Stack, more: Partial<ServerDeps> = {}): ServerDeps => ({ store: s.app.store, metrics: s.app.metrics, clock: s.clock, logger: silentLogger, ready: () => true, ...more });

async function serve<T>(more: Partial<ServerDeps>, fn: (url: string) => Promise<T>, host = '127.0.0.1'): Promise<T> {
  const server = await startServer(host, 0, deps(stack, more));
  try {
    return await fn(server.url.replace('0.0.0.0', '127.0.0.1'));
  } finally {
    await server.close();
  }
}

describe('/status and /status.json', () => {
  it('/status.json is the document of /status?format=json, with the fields the CLI and scripts read', async () => {
    await serve({}, async (url) => {
      const a = await fetch(`${url}/status.json`);
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toBe('application/json');
      expect(a.headers.get('cache-control')).toBe('no-store');
      const doc = (await a.json()) as StatusDocument;
      // The clock is a manual one here: both reads see the same instant, so the documents are equal.
      expect(await (await fetch(`${url}/status?format=json`)).json()).toEqual(doc);
      expect(await (await fetch(`${url}/status`, { headers: { accept: 'application/json' } })).json()).toEqual(doc);
      expect(Object.keys(doc).sort()).toEqual(['deliveries', 'gaps', 'generatedAt', 'history', 'leases', 'subscriptions', 'targets']);
      expect(doc.generatedAt).toBe(stack.clock.now().toISOString());
      expect(doc.subscriptions.map((s) => s.name).sort()).toEqual(['agents', 'queues']);
      for (const s of doc.subscriptions) {
        expect(s).toMatchObject({ provider: 'infinity', kind: 'avaya-infinity', state: 'active', status: 'ACTIVE', lastError: null, lastErrorCode: null, failureCount: 0 });
        // The server was not told which subscription uses which callback target.
        expect(s).not.toHaveProperty('callback');
        expect(s.remoteId).toMatch(/\S/);
        expect(new Date(s.expiresAt!).toISOString()).toBe(s.expiresAt);
        expect(new Date(s.nextCheckAt).toISOString()).toBe(s.nextCheckAt);
      }
      expect(doc.history!.some((h) => h.action === 'create' && h.reason === 'missing' && h.phase === 'succeeded')).toBe(true);
    });
  });

  it('the page is whole without JavaScript, counts down from absolute times, and never refreshes itself with a meta tag', async () => {
    await serve({}, async (url) => {
      const r = await fetch(`${url}/status`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'/);
      const html = await r.text();
      expect(html).not.toMatch(/http-equiv="?refresh/i);
      expect(html).toContain('<td>agents</td>');
      const expires = (await stack.app.store.listSubscriptions()).find((s) => s.name === 'agents')!.expiresAt!.toISOString();
      // The countdown carries its absolute time; the text is the time left from the server's clock (sandbox lifetime 20 s).
      expect(html).toMatch(new RegExp(`<time class="countdown soon" datetime="${expires}" data-at="${expires}" data-future="in \\{\\}" data-past="expired \\{\\} ago" data-warn="120" title="[^"]+ UTC">in 20s</time>`));
      expect(html).toContain(`fetch('status.json'`);
      expect(html).toContain('<td class="callback"><span class="muted">see Callbacks</span></td>');
      // `run` passes no controls: no buttons, and no demo routes.
      expect(html).not.toContain('<button');
      expect((await fetch(`${url}/demo/callback/break`, { method: 'POST' })).status).toBe(404);
      // Same page at /.
      expect(await (await fetch(`${url}/`)).text()).toContain('<td>agents</td>');
    });
  });

  it('says "not probed" for a subscription whose callback is not probed', async () => {
    await serve({ callbacks: () => [] }, async (url) => {
      const doc = (await (await fetch(`${url}/status.json`)).json()) as StatusDocument;
      expect(doc.subscriptions.map((s) => s.callback)).toEqual([null, null]);
      const html = await (await fetch(`${url}/status`)).text();
      expect(html).toContain('<td class="callback"><span class="muted">not probed</span></td><td class="cutoffs"><span class="muted">none projected</span></td>');
    });
  });

  it('shows the demo controls only when they are passed', async () => {
    const controls = { note: 'A demo <b>note</b>', buttons: [{ label: 'Break it', path: '/demo/callback/break' }] };
    await serve({ controls }, async (url) => {
      const html = await (await fetch(`${url}/status`)).text();
      expect(html).toContain('<form class="controls" method="post"><button formaction="/demo/callback/break">Break it</button>');
      expect(html).toContain('A demo &#60;b&#62;note&#60;/b&#62;');
    });
  });

  it('answers 503 while Postgres is unreachable, as the page and as JSON', async () => {
    await serve({ storeUp: () => false }, async (url) => {
      for (const path of ['/status', '/status.json', '/status?format=json']) {
        const r = await fetch(url + path);
        expect(r.status, path).toBe(503);
        expect(r.headers.get('retry-after')).toBe('5');
      }
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
    });
  });

  it('shows deliveries as the provider reports them, next to the subscription', async () => {
    const agents = (await stack.app.store.listSubscriptions()).find((s) => s.name === 'agents')!;
    const at = new Date(stack.clock.now().getTime() - 30_000);
    await stack.app.store.saveDelivery({
      subscriptionId: agents.id, provider: 'infinity', name: 'agents', event: 'ConversationCreated', kind: 'delivered', deliveredAt: at, success: false, responseCode: 503,
      responseText: 'Service Unavailable', lastFailureAt: at, lastFailureCode: 503, lastFailureText: 'Service Unavailable', logsCheckedFor: null, polledAt: stack.clock.now(),
    });
    await serve({}, async (url) => {
      const html = await (await fetch(`${url}/status`)).text();
      const row = html.slice(html.indexOf('data-subscription="infinity/agents"'), html.indexOf('</tr>', html.indexOf('data-subscription="infinity/agents"')));
      expect(row).toMatch(/<div class="delivery failed">ConversationCreated: <b>failed<\/b> 503 <time [^>]*>30s ago<\/time>/);
      expect(html).toContain('<h2>Deliveries (as the provider reports them)</h2>');
    });
  });
});

describe('server.token', () => {
  it('refuses to listen off loopback without a token', async () => {
    await expect(startServer('0.0.0.0', 0, deps(stack))).rejects.toThrow(/0\.0\.0\.0 is not a loopback address and no server\.token is configured/);
    await expect(startServer('::', 0, deps(stack))).rejects.toThrow(/not a loopback address/);
  });

  it('with a token, everything but /healthz and /readyz wants it, compared exactly', async () => {
    await serve(
      { token: TOKEN, controls: { note: 'demo', buttons: [] }, extra: async (req, res) => (req.url === '/demo/x' ? (res.end('demo'), true) : false) },
      async (url) => {
        for (const path of ['/status', '/status.json', '/status?format=json', '/metrics', '/', '/demo/x', '/nowhere']) {
          const none = await fetch(url + path);
          expect(none.status, path).toBe(401);
          expect(none.headers.get('www-authenticate')).toBe('Bearer realm="hookwarden"');
          for (const wrong of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, TOKEN, `Bearer`, `Bearer ${TOKEN} ${TOKEN}`]) {
            const r = await fetch(url + path, { headers: { authorization: wrong } });
            expect(r.status, `${path} with ${wrong}`).toBe(401);
            expect(r.headers.get('www-authenticate')).toBe('Bearer realm="hookwarden", error="invalid_token"');
          }
        }
        for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer   ${TOKEN}`]) {
          expect((await fetch(`${url}/status.json`, { headers: { authorization: auth } })).status, auth).toBe(200);
        }
        const ok = { headers: { authorization: `Bearer ${TOKEN}` } };
        expect((await fetch(`${url}/status`, ok)).status).toBe(200);
        expect(await (await fetch(`${url}/metrics`, ok)).text()).toContain('hookwarden_subscription_active');
        expect(await (await fetch(`${url}/demo/x`, ok)).text()).toBe('demo');
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
      },
    );
  });

  it('off loopback with a token: served, and only to its holders', async () => {
    await serve(
      { token: TOKEN },
      async (url) => {
        expect((await fetch(`${url}/status`)).status).toBe(401);
        expect((await fetch(`${url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      },
      '0.0.0.0',
    );
  });

  it('is never shown: registered with the scrubber like every secret of the config', async () => {
    const config = parseConfig(`server:\n  listen: 0.0.0.0:9464\n  token: \${STATUS_TOKEN}\nproviders: {}\n`, 'c.yaml', { env: { STATUS_TOKEN: TOKEN } });
    expect(config.server.token).toBe(TOKEN);
    registerConfigSecrets(config);
    // A row written before the scrubber knew the token (a provider echoing a request, say).
    await query(stack.dbUrl, `UPDATE subscription SET "lastError" = $1 WHERE name = 'queues'`, [`echoed: Authorization: Bearer ${TOKEN}`]);
    await serve({ token: TOKEN }, async (url) => {
      const ok = { headers: { authorization: `Bearer ${TOKEN}` } };
      for (const path of ['/status', '/status.json', '/metrics']) {
        const text = await (await fetch(url + path, ok)).text();
        expect(text, path).not.toContain(TOKEN);
      }
      expect(await (await fetch(`${url}/status`, ok)).text()).toContain(`echoed: Authorization: Bearer ${REDACTED}`);
    });
    await query(stack.dbUrl, `UPDATE subscription SET "lastError" = NULL WHERE name = 'queues'`);
  });
});

describe('callback health per subscription', () => {
  let health: HealthStack;
  beforeAll(async () => {
    health = await startHealthStack();
    await health.app.scheduler.tick();
    health.receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital/shared');
    await health.run(30);
  });
  afterAll(() => health.close());

  it('links each subscription to its callback target, shared ones included, with the projected cutoffs', async () => {
    const server = await startServer('127.0.0.1', 0, { store: health.app.store, metrics: health.app.metrics, clock: health.clock, logger: silentLogger, ready: () => true, callbacks: () => health.app.prober.specs });
    try {
      const doc = (await (await fetch(`${server.url}/status.json`)).json()) as StatusDocument;
      const sub = Object.fromEntries(doc.subscriptions.map((s) => [s.name, s]));
      const target = doc.targets.find((t) => t.name === 'chat-a')!;
      expect(target.health).toBe('unhealthy');
      for (const name of ['chat-a', 'chat-b']) {
        expect(sub[name]!.callback).toEqual({ target: 'chat-a', health: 'unhealthy', consecutiveFailures: target.consecutiveFailures, unhealthySince: target.unhealthySince, disableAt: target.disableAt, deleteAt: target.deleteAt });
      }
      expect(sub['chat-c']!.callback).toMatchObject({ target: 'chat-c', health: 'healthy', disableAt: null });
      expect(sub['engagements']!.callback).toMatchObject({ target: 'engagements', health: 'healthy' });

      const html = await (await fetch(`${server.url}/status`)).text();
      const row = (name: string) => html.slice(html.indexOf(`data-subscription="digital/${name}"`), html.indexOf('</tr>', html.indexOf(`data-subscription="digital/${name}"`)));
      expect(row('chat-b')).toContain('<span class="health unhealthy">unhealthy</span>');
      expect(row('chat-b')).toContain('shared with chat-a');
      // Projected disable 60 s after the first failure; the page shows the countdown and the time.
      const left = Math.ceil((Date.parse(target.disableAt!) - health.clock.now().getTime()) / 1000);
      expect(row('chat-b')).toMatch(new RegExp(`<div class="cutoff"><time class="countdown soon" datetime="${target.disableAt}" data-at="${target.disableAt}" data-future="disables in \\{\\}" data-past="presumed disabled \\{\\} ago" data-warn="3600" title="[^"]+">disables in ${left}s</time> <small class="at">\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC</small></div>`));
      // Deleted 300 s after the disable (the scaled policy).
      expect(row('chat-b')).toMatch(/deletes in 5m \d\ds/);
      expect(row('chat-c')).toContain('none projected');
      // The target keeps the fragment scripts and tests look for.
      expect(html).toMatch(/<td>chat-a<\/td><td><span class="state">unhealthy<\/span>/);
    } finally {
      await server.close();
    }
  });
});
