import { afterEach, describe, expect, it } from 'vitest';
import { healthOf } from '../../src/policy/health.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startServer } from '../../src/server/http.js';
import { query } from '../fixtures/db.js';
import { AXP_ENV, SCALED, startHealthStack, type HealthStack } from '../fixtures/health-stack.js';

let stack: HealthStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const digital = (s: HealthStack) => [...(s.axp.accounts.get('ABCDEF')?.digital.values() ?? [])];
const target = async (s: HealthStack, name: string) => (await s.app.store.listTargets()).find((t) => t.name === name)!;
const rows = async (s: HealthStack) => Object.fromEntries((await s.app.store.listSubscriptions()).map((r) => [r.name, r]));

describe('callback health, end to end (AXP sandbox delivering to a real receiver)', () => {
  it('a broken-then-mended callback ends with its subscriptions recreated once and delivering again', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    await s.axp.deliver();
    expect(digital(s)).toHaveLength(3);
    expect(s.axp.accounts.get('ABCDEF')!.notification.size).toBe(1);
    expect(s.receiver.count({ path: '/hooks/axp-digital/shared', probe: false })).toBe(2);
    const before = await rows(s);
    const t0 = s.clock.now().getTime();

    // The shared callback starts failing.
    s.receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital/shared');
    let detectedAfter: number | undefined;
    await s.run(10, async () => {
      if (detectedAfter === undefined && healthOf(await target(s, 'chat-a'), s.clock.now()) !== 'healthy') detectedAfter = (s.clock.now().getTime() - t0) / 1000;
    });
    // Seen within one probe interval (10 s).
    expect(detectedAfter).toBeDefined();
    expect(detectedAfter!).toBeLessThanOrEqual(10);

    // Three failures in a row: unhealthy, with the cutoffs projected from the first failure.
    await s.run(20);
    const sick = await target(s, 'chat-a');
    expect(healthOf(sick, s.clock.now())).toBe('unhealthy');
    expect(sick.disableAt!.getTime() - sick.unhealthySince!.getTime()).toBe(SCALED.disableAfterSeconds * 1000);
    expect(sick.deleteAt!.getTime() - sick.disableAt!.getTime()).toBe(SCALED.deleteAfterSeconds * 1000);
    expect(sick.lastFailureClass).toBe('unavailable');
    const metrics = await s.app.metrics.registry.metrics();
    expect(metrics).toContain(`hookwarden_callback_disable_timestamp_seconds{provider="digital",target="chat-a"} ${sick.disableAt!.getTime() / 1000}`);
    expect(metrics).toContain('hookwarden_callback_up{provider="digital",target="chat-a"} 0');
    expect(metrics).toContain('hookwarden_callback_up{provider="digital",target="chat-c"} 1');
    // One target for the two subscriptions that share the URL.
    expect((await s.app.store.listTargets()).filter((t) => t.url.endsWith('/hooks/axp-digital/shared'))).toHaveLength(1);

    // Past the cutoff: the sandbox disables both; hookwarden presumes so, and recreates nothing while it fails.
    const createsBefore = s.axp.server.count('digital.create');
    await s.run(70);
    expect(digital(s).filter((d) => d.disabledAt).map((d) => d.channelProviderId).sort()).toEqual(['ChatConnector01', 'ChatConnector02']);
    const presumed = await rows(s);
    expect(presumed['chat-a']).toMatchObject({ state: 'disabled' });
    expect(presumed['chat-b']).toMatchObject({ state: 'disabled' });
    expect(presumed['chat-c']).toMatchObject({ state: 'active' });
    expect(s.axp.server.count('digital.create')).toBe(createsBefore);
    const status = JSON.parse(JSON.stringify(await s.app.store.listTargets()));
    expect(status.find((t: { name: string }) => t.name === 'chat-a').consecutiveFailures).toBeGreaterThanOrEqual(3);

    // Mended: the next probe answers 200, and hookwarden deletes and recreates, once each.
    s.receiver.mend('/hooks/axp-digital/shared');
    const mendedAt = s.clock.now().getTime();
    let repairedAfter: number | undefined;
    await s.run(20, async () => {
      const r = await rows(s);
      if (repairedAfter === undefined && r['chat-a']!.state === 'active' && r['chat-b']!.state === 'active') repairedAfter = (s.clock.now().getTime() - mendedAt) / 1000;
    });
    expect(repairedAfter).toBeDefined();
    const after = await rows(s);
    for (const n of ['chat-a', 'chat-b']) {
      expect(after[n]!.remoteId).not.toBe(before[n]!.remoteId);
      expect(after[n]!.previousRemoteId).toBe(before[n]!.remoteId);
    }
    expect(after['chat-c']!.remoteId).toBe(before['chat-c']!.remoteId);
    expect(s.axp.server.count('digital.create')).toBe(createsBefore + 2);
    expect(digital(s)).toHaveLength(3); // no duplicates, old ones gone
    expect(digital(s).every((d) => !d.disabledAt)).toBe(true);
    // Delivering again.
    const delivered = s.receiver.count({ path: '/hooks/axp-digital/shared', probe: false });
    await s.axp.deliver();
    expect(s.receiver.count({ path: '/hooks/axp-digital/shared', probe: false })).toBe(delivered + 2);
    const text = await s.app.metrics.registry.metrics();
    expect(text).toContain('hookwarden_recreations_total{provider="digital",reason="presumed-disabled",result="success"} 2');
    const history = await s.app.store.history({ name: 'chat-a' });
    expect(history.some((h) => h.action === 'recreate' && h.reason === 'presumed-disabled' && h.phase === 'succeeded' && h.previousRemoteId === before['chat-a']!.remoteId)).toBe(true);
    console.info(`[health] failure detected after ${detectedAfter} s (probe every 10 s); repaired ${repairedAfter} s after the callback was mended (virtual time)`);
  });

  it('recreates exactly once when two replicas race after recovery', async () => {
    stack = await startHealthStack();
    const s = stack;
    const replica = await s.another();
    await s.app.scheduler.tick();
    s.receiver.break({ kind: 'status', status: 502 }, '/hooks/axp-digital/shared');
    await s.run(100, undefined, [s.app, replica]);
    const creates = s.axp.server.count('digital.create');
    s.receiver.mend('/hooks/axp-digital/shared');
    await s.run(20, undefined, [s.app, replica]);
    expect(s.axp.server.count('digital.create')).toBe(creates + 2);
    expect(digital(s)).toHaveLength(3);
  });

  it('recreates nothing while the callback still fails, even after the provider deleted it', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    const creates = s.axp.server.count('digital.create');
    s.receiver.break({ kind: 'status', status: 504 }, '/hooks/axp-digital/shared');
    await s.run(SCALED.disableAfterSeconds + SCALED.deleteAfterSeconds + 60);
    expect(digital(s).map((d) => d.channelProviderId)).toEqual(['ChatConnector03']); // deleted by the provider
    expect(s.axp.server.count('digital.create')).toBe(creates);
    const sick = await target(s, 'chat-a');
    expect(healthOf(sick, s.clock.now())).toBe('presumed-deleted');
    expect(sick.lastFailureClass).toBe('unavailable');
    // Once it answers again, both come back.
    s.receiver.mend('/hooks/axp-digital/shared');
    await s.run(20);
    expect(digital(s)).toHaveLength(3);
    expect(s.axp.server.count('digital.create')).toBe(creates + 2);
  });

  it('watch-only targets are probed and projected, with no remediation', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    expect(s.receiver.count({ path: '/hooks/mycontactcenter/agents', probe: true })).toBe(1);
    s.receiver.break({ kind: 'drop' }, '/hooks/mycontactcenter');
    await s.run(30);
    const w = await target(s, 'mcc-agents');
    expect(w.provider).toBe('watch');
    expect(healthOf(w, s.clock.now())).toBe('unhealthy');
    expect(w.lastFailureClass).toBe('connection-reset');
    expect(w.disableAt!.getTime()).toBe(w.unhealthySince!.getTime() + SCALED.disableAfterSeconds * 1000);
    const metrics = await s.app.metrics.registry.metrics();
    expect(metrics).toContain(`hookwarden_callback_unhealthy_since_timestamp_seconds{provider="watch",target="mcc-agents"} ${w.unhealthySince!.getTime() / 1000}`);
    // /status tells the same story, as JSON and as a page.
    const server = await startServer('127.0.0.1', 0, { store: s.app.store, metrics: s.app.metrics, clock: s.clock, logger: silentLogger, ready: () => true });
    try {
      const doc = (await (await fetch(`${server.url}/status?format=json`)).json()) as { targets: { name: string; health: string; disableAt: string; url: string }[] };
      const row = doc.targets.find((t) => t.name === 'mcc-agents')!;
      expect(row).toMatchObject({ health: 'unhealthy', disableAt: w.disableAt!.toISOString() });
      expect(row.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hooks\/mycontactcenter\/agents$/);
      const html = await (await fetch(`${server.url}/status`)).text();
      expect(html).toMatch(/<td>mcc-agents<\/td><td><span class="state">unhealthy<\/span>/);
    } finally {
      await server.close();
    }
    expect(metrics).toMatch(/hookwarden_probe_duration_seconds_count\{provider="watch",target="mcc-agents",outcome="connection-reset"\} [1-9]/);
  });

  it('keeps AXP Notification subscriptions renewed, and recreates them on drift (no PATCH)', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    const n = () => [...s.axp.accounts.get('ABCDEF')!.notification.values()];
    const first = n()[0]!;
    await s.run(600); // lifetime 600 s: renewed at ~2/3
    expect(s.axp.server.count('notification.renew')).toBeGreaterThanOrEqual(1);
    expect(s.axp.viewNotification(n()[0]!).status).toBe('ACTIVE');
    n()[0]!.events = ['InboundEngagementCreated'];
    await s.run(60);
    expect(n()).toHaveLength(1);
    expect(n()[0]!.subscriptionId).not.toBe(first.subscriptionId);
    expect(n()[0]!.events).toEqual(['ALL']);
    expect(s.receiver.received.some((r) => r.path.startsWith('/hooks/axp-notification') && r.headers['x-hook-token'] === AXP_ENV.HOOK_TOKEN)).toBe(true);
  });

  it('records passive signals on the target: a subscription found INACTIVE, or vanished', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    s.clock.advance(700); // nobody renewed: INACTIVE at the provider
    const [report] = (await s.app.scheduler.tick()).filter((r) => r.provider === 'notify');
    expect(report!.actions.map((a) => `${a.action}:${a.reason}`)).toEqual(['reactivate:inactive']);
    expect((await target(s, 'engagements')).lastSignal).toBe('engagements: INACTIVE at the provider');
    s.axp.accounts.get('ABCDEF')!.digital.clear();
    await s.app.reconciler.pass('digital');
    expect((await target(s, 'chat-c')).lastSignal).toBe('chat-c: vanished at the provider');
  });

  it('keeps every secret out of Postgres and the logs', async () => {
    stack = await startHealthStack();
    const s = stack;
    await s.app.scheduler.tick();
    await s.run(10);
    const dump = JSON.stringify([...(await query(s.dbUrl, 'SELECT * FROM subscription')), ...(await query(s.dbUrl, 'SELECT * FROM history')), ...(await query(s.dbUrl, 'SELECT * FROM callback_target'))]);
    for (const secret of Object.values(AXP_ENV)) {
      expect(dump).not.toContain(secret);
      expect(s.logs.join('\n')).not.toContain(secret);
    }
  });
});
