import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/load.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freshDatabase } from '../fixtures/db.js';
import { infinityYaml, memoryLogger, startStack, T0, testEnv, type Stack } from '../fixtures/stack.js';
import { until } from '../fixtures/wait.js';

/**
 * One account, two subscriptions. The renewal of one of them hangs for 25 s (longer than the
 * other's whole 9 s lifetime), which keeps the account's pass under way. The other comes due
 * two or three times meanwhile and must be renewed beside that pass, not after it: without
 * that, it waited for the hanging call and expired. Real time, real cron wake-ups.
 */

const yaml = (db: string, url: string) => `
database:
  url: ${db}
server:
  listen: 127.0.0.1:0
defaults:
  reconcileEvery: 60s
  passTimeout: 60s
providers:
  acct:
    kind: avaya-infinity
    baseUrl: ${url}
    clientId: client-a
    clientSecret: \${INFINITY_CLIENT_SECRET}
    timeout: 40s
subscriptions:
  - { name: hangs, provider: acct, family: [AGENT], events: [ALL], callback: { url: "https://hooks.example.com/hangs", probe: false } }
  - { name: other, provider: acct, family: [AGENT], events: [ALL], callback: { url: "https://hooks.example.com/other", probe: false } }
`;

describe('renewals beside a pass still under way', () => {
  let sandbox: InfinitySandbox;
  let daemon: Daemon;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const { logger, lines } = memoryLogger();

  beforeAll(async () => {
    sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 9 });
    await sandbox.listen();
    db = await freshDatabase();
    daemon = await startDaemon(parseConfig(yaml(db.url, sandbox.url), 'beside.yaml', { env: testEnv }), logger);
  });

  afterAll(async () => {
    await daemon?.stop();
    await sandbox?.close();
    await db?.drop();
  });

  it('a renewal that comes due while another subscription’s call hangs is made on time', async () => {
    const byName = (n: string) => sandbox.subscriptions('client-a').find((s) => JSON.stringify(s.transport).includes(`/${n}`));
    await until('both subscriptions to be created', () => byName('hangs') !== undefined && byName('other') !== undefined, 10);
    const hangs = byName('hangs')!.subscriptionId;
    const other = byName('other')!.subscriptionId;
    sandbox.addFault({ method: 'POST', path: `${hangs}:renew`, delayMs: 25_000, count: 1 });
    // The hanging renewal reaches the provider within a lifetime.
    await until('the renewal of `hangs` to hang', () => (sandbox.server.faultTable.fired.get('delay') ?? 0) === 1, 12);
    const start = Date.now();
    let renewedAt = byName('other')!.expiresAt;
    let renewals = 0;
    const expired: string[] = [];
    while (Date.now() - start < 24_000) {
      const o = byName('other')!;
      if (o.subscriptionId !== other) expired.push(`recreated as ${o.subscriptionId}`);
      else if (o.status !== 'ACTIVE' && !expired.some((e) => e.includes(o.expiresAt))) expired.push(`INACTIVE at ${new Date().toISOString()} (expiresAt ${o.expiresAt})`);
      if (o.expiresAt !== renewedAt) {
        renewals++;
        renewedAt = o.expiresAt;
      }
      await sleep(100);
    }
    expect(expired).toEqual([]);
    // A 9 s lifetime renews about every 6 s: three or four times in 24 s.
    expect(renewals).toBeGreaterThanOrEqual(3);
    // They were made beside the pass, whose hanging call was still under way.
    expect(lines.filter((l) => l.includes('"subscription":"other"') && l.includes('its pass is still under way')).length).toBeGreaterThanOrEqual(3);
    expect(byName('hangs')!.subscriptionId).toBe(hangs);
  }, 70_000);
});

describe('what a join takes beside a running pass', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.close();
  });

  it('never a subscription the pass holds; a due one it does not hold, by its recorded id; an expired one waits for a listing', async () => {
    stack = await startStack({ lifetime: 20, yaml: (url) => infinityYaml(url, [{ name: 'a' }, { name: 'b' }], { reconcileEvery: '5m' }) });
    const { app, sandbox, clock } = stack;
    await app.scheduler.tick();
    const tenant = sandbox.tenants.get('client-a')!;
    const id = (n: string) => [...tenant.values()].find((s) => s.transport.endpoint.endsWith(`/${n}`))!.subscriptionId;
    const [a, b] = [id('a'), id('b')];
    const expiry = (sid: string) => tenant.get(sid)!.expiresAt.getTime() - T0;
    // a's renewal hangs (real time) through everything below.
    sandbox.addFault({ method: 'POST', path: `${a}:renew`, delayMs: 4000, count: 1 });
    clock.set(new Date(T0 + 19_000));
    const pass = app.reconciler.pass('infinity');
    await until("b's renewal in the pass", () => expiry(b) === 39_000, 3);
    // The pass holds a (its renewal hangs); b was renewed by it and is not due.
    expect(await app.reconciler.join('infinity')).toBeUndefined();
    // b comes due (renewal at 33% before its expiry at 39 s) while a still hangs: renewed beside the pass.
    clock.set(new Date(T0 + 36_000));
    const joined = await app.reconciler.join('infinity');
    expect(joined?.joined).toBe(true);
    expect(joined?.actions.map((x) => `${x.name}:${x.action}:${x.outcome}:${x.remoteId}`)).toEqual([`b:renew:succeeded:${b}`]);
    expect(expiry(b)).toBe(56_000);
    // Expired (by the manual clock) while the pass still runs: only a listing can tell what became of it.
    clock.set(new Date(T0 + 57_000));
    expect(await app.reconciler.join('infinity')).toBeUndefined();
    expect(expiry(b)).toBe(56_000);
    const r = await pass;
    expect(r.actions.find((x) => x.name === 'a')?.outcome).toBe('succeeded');
    // With no pass under way, there is nothing to join.
    expect(await app.reconciler.join('infinity')).toBeUndefined();
  }, 20_000);
});

describe('a pass asked only to renew (the scheduler runs it without a slot)', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.close();
  });

  it('renews by recorded id when the account was listed moments ago, does nothing when nothing is due, and asks for a listing otherwise', async () => {
    stack = await startStack({ lifetime: 20, yaml: (url) => infinityYaml(url, [{ name: 'a' }], { reconcileEvery: '60s' }) });
    const { app, sandbox, clock } = stack;
    // Never listed by this replica: it has to list.
    expect(app.reconciler.mayOnlyRenew('infinity')).toBe(false);
    expect(await app.reconciler.pass('infinity', { onlyRenewals: true })).toMatchObject({ needsListing: true, actions: [] });
    expect(sandbox.server.count('create')).toBe(0);
    await app.reconciler.pass('infinity');
    expect(app.reconciler.mayOnlyRenew('infinity')).toBe(true);
    // Nothing due: nothing done, no listing.
    const lists = sandbox.server.count('list');
    expect(await app.reconciler.pass('infinity', { onlyRenewals: true })).toMatchObject({ renewalsOnly: true, actions: [] });
    // Its renewal comes due: renewed by its recorded id, still without a listing.
    clock.set(new Date(T0 + 19_000));
    const r = await app.reconciler.pass('infinity', { onlyRenewals: true });
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['a:renew:succeeded']);
    expect(sandbox.server.count('list')).toBe(lists);
    // Past expiry (only a listing tells what became of it), or a listing too old: it has to list.
    clock.set(new Date(T0 + 45_000));
    expect(await app.reconciler.pass('infinity', { onlyRenewals: true })).toMatchObject({ needsListing: true });
    clock.set(new Date(T0 + 70_000));
    expect(app.reconciler.mayOnlyRenew('infinity')).toBe(false);
    expect(sandbox.server.count('list')).toBe(lists);
  }, 20_000);
});
