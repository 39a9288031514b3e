import { afterEach, describe, expect, it } from 'vitest';
import { query } from '../fixtures/db.js';
import { infinityYaml, startStack, testEnv, type Stack } from '../fixtures/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('the daemon as a whole', () => {
  it('never writes secrets to the logs or to Postgres', async () => {
    const hookToken = 'hook-token-Zq8!xP';
    stack = await startStack({ subs: [{ name: 'agents', authToken: hookToken }, { name: 'queues', family: ['QUEUE'] }] });
    stack.sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', status: 500 });
    await stack.app.reconciler.pass('infinity'); // one create fails, one succeeds
    stack.clock.advance(30);
    await stack.app.reconciler.pass('infinity');
    expect(stack.sandbox.subscriptions('client-a').find((s) => s.transport.authToken === hookToken)).toBeDefined();
    const dump = JSON.stringify([
      ...(await query(stack.dbUrl, 'SELECT * FROM subscription')),
      ...(await query(stack.dbUrl, 'SELECT * FROM history')),
    ]);
    expect(dump).toContain('agents');
    for (const secret of [hookToken, testEnv.INFINITY_CLIENT_SECRET]) {
      expect(dump).not.toContain(secret);
      expect(stack.logs.join('\n')).not.toContain(secret);
    }
  });

  it('after a restart, renews the most overdue subscriptions first', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    await stack.app.scheduler.tick();
    const t = stack.sandbox.tenants.get('client-a')!;
    const byEndpoint = (n: string) => [...t.values()].find((s) => s.transport.endpoint.endsWith(`/${n}`))!;
    // While the daemon is down, c comes closest to expiry, then a, then b.
    const now = stack.clock.now().getTime();
    byEndpoint('c').expiresAt = new Date(now + 5_000);
    byEndpoint('a').expiresAt = new Date(now + 10_000);
    byEndpoint('b').expiresAt = new Date(now + 15_000);
    await stack.app.close();
    stack.clock.advance(3);
    const restarted = await stack.restart();
    const [report] = await restarted.scheduler.tick();
    expect(report!.actions.filter((a) => a.action === 'renew').map((a) => a.name)).toEqual(['c', 'a', 'b']);
    expect(stack.sandbox.subscriptions('client-a').every((s) => s.status === 'ACTIVE')).toBe(true);
  });

  it('two replicas racing on the same account create each subscription once', async () => {
    stack = await startStack({ subs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    const replica = await stack.restart(undefined, { holder: 'replica-2' });
    stack.sandbox.addFault({ method: 'GET', path: '/subscriptions', delayMs: 200, count: 2 });
    const reports = await Promise.all([stack.app.reconciler.pass('infinity'), replica.reconciler.pass('infinity')]);
    expect(reports.filter((r) => r.skipped)).toHaveLength(1);
    expect(stack.sandbox.subscriptions('client-a')).toHaveLength(3);
    expect(stack.sandbox.server.count('create')).toBe(3);
  });

  it('prunes history older than history.keep, at most once an hour', async () => {
    stack = await startStack({ yaml: (url) => `${infinityYaml(url, [{ name: 'agents' }])}history:\n  keep: 1h\n` });
    await stack.app.scheduler.tick();
    const t0 = stack.clock.now().getTime();
    expect((await stack.app.store.history()).length).toBeGreaterThan(0);
    stack.clock.advance(2 * 3600);
    await stack.app.scheduler.tick();
    const left = await stack.app.store.history();
    expect(left.length).toBeGreaterThan(0); // this pass's reactivation
    expect(left.every((h) => h.at.getTime() > t0 + 3600_000)).toBe(true);
  });

  it('exports gauges from Postgres and counters of actions', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    await stack.app.reconciler.pass('infinity');
    const text = await stack.app.metrics.registry.metrics();
    const [row] = await stack.app.store.listSubscriptions();
    expect(text).toContain(`hookwarden_subscription_expiry_timestamp_seconds{provider="infinity",subscription="agents"} ${row!.expiresAt!.getTime() / 1000}`);
    expect(text).toContain('hookwarden_subscription_active{provider="infinity",subscription="agents"} 1');
    expect(text).toContain('hookwarden_actions_total{provider="infinity",action="create",reason="missing",outcome="succeeded"} 1');
    expect(text).toMatch(/hookwarden_reconcile_pass_duration_seconds_count\{provider="infinity"\} 1/);
    // Labels stay bounded: never a remote id or a URL.
    expect(text).not.toContain(row!.remoteId!);
    expect(text).not.toContain('hooks.example.com');
  });
});
