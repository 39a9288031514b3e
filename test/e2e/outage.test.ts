import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startDaemon, type Daemon } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/load.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freshDatabase, query } from '../fixtures/db.js';
import { infinityYaml, memoryLogger, testEnv } from '../fixtures/stack.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { until } from '../fixtures/wait.js';

/**
 * Postgres goes away under a running daemon, in the middle of a pass: first every backend
 * is terminated ("terminating connection due to administrator command", what a restart
 * sends), then the server stops answering at all. Real time, real cron wake-ups, real HTTP.
 */
const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
};

describe('a Postgres outage under a running daemon', () => {
  let sandbox: InfinitySandbox;
  let proxy: TcpProxy;
  let daemon: Daemon;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const { logger, lines } = memoryLogger();

  /** The daemon's config: three subscriptions, its database reached through the proxy. */
  const viaProxyYaml = () => {
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    return infinityYaml(sandbox.url, [{ name: 'a' }, { name: 'b' }, { name: 'c' }], { reconcileEvery: '3s' }).replace(
      'defaults:\n',
      `database:\n  url: ${viaProxy.toString()}\nserver:\n  listen: 127.0.0.1:0\ndefaults:\n`,
    );
  };

  beforeAll(async () => {
    sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 40 });
    await sandbox.listen();
    db = await freshDatabase();
    const server = new URL(inject('pgServerUrl'));
    proxy = new TcpProxy(server.hostname, Number(server.port || 5432));
    await proxy.listen();
    daemon = await startDaemon(parseConfig(viaProxyYaml(), 'outage.yaml', { env: testEnv }), logger);
  });

  afterAll(async () => {
    await daemon?.stop();
    await proxy?.close();
    await sandbox?.close();
    await db?.drop();
  });

  it('keeps the process alive, goes unready, starts no provider write, and resumes by itself with nothing lost', async () => {
    const active = () => sandbox.subscriptions('client-a').filter((s) => s.status === 'ACTIVE').length;
    await until('three ACTIVE subscriptions and ready', async () => active() === 3 && (await get(`${daemon.url}/readyz`)).status === 200, 20);
    const historyBefore = Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM history'))[0]!.n);
    expect(historyBefore).toBeGreaterThan(0);

    // The next listing answers slowly, so the outage falls in the middle of that pass.
    sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions', delayMs: 1500 });
    await until('the slow listing to start', () => sandbox.server.faults.length === 0, 15);
    await query(inject('pgServerUrl') + '/postgres', `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [new URL(db.url).pathname.slice(1)]);
    await proxy.cut();
    const writes = () => ['create', 'renew', 'patch', 'delete'].reduce((n, k) => n + sandbox.server.count(k), 0);

    await until('readiness to fail', async () => (await get(`${daemon.url}/readyz`)).status === 503, 10);
    const writesAtOutage = writes();
    const metrics = await get(`${daemon.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^hookwarden_store_up 0$/m);
    expect((await get(`${daemon.url}/healthz`)).status).toBe(200);
    expect((await get(`${daemon.url}/status`)).status).toBe(503);
    await sleep(5000);
    // Five seconds without a database: no provider write started, the process is still here.
    expect(writes()).toBe(writesAtOutage);
    expect((await get(`${daemon.url}/metrics`)).status).toBe(200);

    await proxy.restore();
    await until('readiness to come back', async () => (await get(`${daemon.url}/readyz`)).status === 200, 10);
    expect((await get(`${daemon.url}/metrics`)).text).toMatch(/^hookwarden_store_up 1$/m);
    // It carries on: renewals land again, and every subscription stays ACTIVE.
    const renewals = sandbox.server.count('renew');
    await until('a renewal after the outage', () => sandbox.server.count('renew') > renewals, 40);
    expect(active()).toBe(3);
    expect(sandbox.subscriptions('client-a')).toHaveLength(3);
    const historyAfter = Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM history'))[0]!.n);
    expect(historyAfter).toBeGreaterThan(historyBefore);
    expect(lines.some((l) => l.includes('database unreachable'))).toBe(true);
    expect(lines.some((l) => l.includes('database reachable again'))).toBe(true);
  }, 120_000);

  it('a daemon started while Postgres is down waits for it, then starts', async () => {
    await proxy.cut();
    const yaml = viaProxyYaml();
    const { logger: l2, lines: lines2 } = memoryLogger();
    let started: Daemon | undefined;
    const starting = startDaemon(parseConfig(yaml, 'outage.yaml', { env: testEnv }), l2, { server: {} }).then((d) => (started = d));
    await until('the wait to be reported', () => lines2.some((l) => l.includes('waiting for the database')), 10);
    expect(started).toBeUndefined();
    await proxy.restore();
    await starting;
    try {
      await until('ready', async () => (await get(`${started!.url}/readyz`)).status === 200, 20);
    } finally {
      await started?.stop();
    }
  }, 60_000);
});
