import { afterEach, describe, expect, it } from 'vitest';
import type { GapRow } from '../../src/store/types.js';
import { startDixaStack, type DixaStack } from '../fixtures/dixa-stack.js';
import { axpYaml, startHealthStack, type HealthStack } from '../fixtures/health-stack.js';
import { infinityYaml, startStack, type Stack } from '../fixtures/stack.js';

/**
 * Coverage gaps, end to end against the sandboxes over real HTTP and a real Postgres, in
 * virtual time: each window opens where the events stopped (not where hookwarden noticed)
 * and closes where they could flow again.
 */
let stack: Stack | HealthStack | DixaStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const within = (a: Date | null | undefined, b: Date, seconds = 1) => {
  expect(a).toBeInstanceOf(Date);
  expect(Math.abs(a!.getTime() - b.getTime())).toBeLessThanOrEqual(seconds * 1000);
};
const gapsOf = async (s: { app: { store: { listGaps(o?: object): Promise<GapRow[]> } } }, name?: string) => (await s.app.store.listGaps({})).filter((g) => !name || g.name === name);

describe('coverage gaps', () => {
  it('renewals failing past expiry: an expired gap from the expiry to the renewal that landed', async () => {
    const s = (stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] }));
    await s.app.reconciler.pass('infinity');
    const expiresAt = new Date(s.sandbox.subscriptions('client-a')[0]!.expiresAt);
    s.sandbox.addFault({ method: 'POST', path: ':renew', status: 500, count: 1000 });
    s.clock.advance(45);
    await s.app.reconciler.pass('infinity'); // due, fails
    expect(await gapsOf(s)).toEqual([]);
    s.clock.advance(25); // 10 s past the expiry: INACTIVE at the provider
    await s.app.reconciler.pass('infinity');
    const open = await gapsOf(s, 'a');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ provider: 'infinity', cause: 'expired', confidence: 'certain', to: null, events: ['AGENT/ALL'] });
    within(open[0]!.from, expiresAt);

    // A restart while the gap is open neither loses nor duplicates it.
    const again = await s.restart();
    await again.reconciler.pass('infinity');
    expect(await gapsOf(s, 'a')).toHaveLength(1);

    s.sandbox.server.faults.length = 0;
    // Past the backoff of the failures so far (each pass tried up to three times).
    s.clock.advance(30);
    const renewedAt = s.clock.now();
    const r = await again.reconciler.pass('infinity');
    expect(r.actions.map((x) => `${x.action}:${x.outcome}`)).toEqual(['reactivate:succeeded']);
    const [closed, ...rest] = await gapsOf(s, 'a');
    expect(rest).toEqual([]);
    within(closed!.from, expiresAt);
    within(closed!.to, renewedAt);
    expect(closed!.closedAt).not.toBeNull();
    // Counted once, with its length.
    const metrics = await again.metrics.registry.metrics();
    expect(metrics).toMatch(/hookwarden_coverage_gaps_total\{provider="infinity",cause="expired"\} 1/);
  });

  it('a daemon stopped longer than the lifetime records the gap when it comes back', async () => {
    const s = (stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] }));
    await s.app.reconciler.pass('infinity');
    const expiresAt = new Date(s.sandbox.subscriptions('client-a')[0]!.expiresAt);
    await s.app.close();
    s.clock.advance(200); // down for 200 s: expired at 60 s
    const back = await s.restart();
    const cameBackAt = s.clock.now();
    await back.reconciler.pass('infinity');
    const [g, ...rest] = await gapsOf({ app: back }, 'a');
    expect(rest).toEqual([]);
    expect(g).toMatchObject({ cause: 'expired', confidence: 'certain' });
    within(g!.from, expiresAt);
    within(g!.to, cameBackAt);
  });

  it('a subscription the provider lost: a lost gap from when it was last seen to the re-creation', async () => {
    const s = (stack = await startStack({ lifetime: 600, yaml: (url) => infinityYaml(url, [{ name: 'a' }]) }));
    await s.app.reconciler.pass('infinity');
    const lastSeen = s.clock.now();
    const old = s.sandbox.subscriptions('client-a')[0]!.subscriptionId;
    s.clock.advance(30);
    // Gone at the provider, behind hookwarden's back.
    s.sandbox.tenants.get('client-a')!.clear();
    s.clock.advance(30);
    const recreatedAt = s.clock.now();
    await s.app.reconciler.pass('infinity');
    const [g] = await gapsOf(s, 'a');
    expect(g).toMatchObject({ cause: 'lost', confidence: 'certain', remoteId: expect.any(String), previousRemoteId: old });
    within(g!.from, lastSeen);
    within(g!.to, recreatedAt);
  });

  it('an AXP callback broken past the disable cutoff, then mended: presumed-disabled from the projected disable to the recreate', async () => {
    const s = (stack = await startHealthStack());
    await s.app.scheduler.tick();
    s.receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital/shared');
    await s.run(100); // unhealthy, then past the (scaled) 60 s disable cutoff
    const sick = (await s.app.store.listTargets()).find((t) => t.url.endsWith('/hooks/axp-digital/shared'))!;
    const failing = (await gapsOf(s, 'chat-a')).filter((g) => g.cause === 'callback-failing');
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({ confidence: 'possible', to: null });
    const presumed = (await gapsOf(s, 'chat-a')).find((g) => g.cause === 'presumed-disabled')!;
    expect(presumed).toMatchObject({ confidence: 'presumed', to: null, events: ['MESSAGES'] });
    within(presumed.from, sick.disableAt!);

    s.receiver.mend('/hooks/axp-digital/shared');
    await s.run(20);
    const rows = await s.app.store.listSubscriptions('digital');
    const a = rows.find((r) => r.name === 'chat-a')!;
    expect(a.state).toBe('active');
    const done = await gapsOf(s, 'chat-a');
    expect(done.every((g) => g.to !== null)).toBe(true);
    const closed = done.find((g) => g.cause === 'presumed-disabled')!;
    expect(closed.remoteId).toBe(a.remoteId);
    expect(closed.previousRemoteId).toBe(a.previousRemoteId);
    within(closed.to, a.lastRenewedAt!, 5);
    // chat-c's callback never failed: no gap.
    expect(await gapsOf(s, 'chat-c')).toEqual([]);
  });

  it('a Dixa webhook disabled at the provider: a disabled gap, closed by enabling it again', async () => {
    const s = (stack = await startDixaStack());
    await s.app.reconciler.pass('dixa');
    const lastSeen = s.clock.now();
    const w = [...s.dixa.org('dixa-api-token-secret').values()].find((x) => x.name === 'hookwarden:notes')!;
    s.clock.advance(30);
    w.enabled = false;
    s.clock.advance(30);
    const enabledAt = s.clock.now();
    await s.app.reconciler.pass('dixa');
    expect(w.enabled).toBe(true);
    const [g, ...rest] = await gapsOf(s, 'notes');
    expect(rest).toEqual([]);
    expect(g).toMatchObject({ cause: 'disabled', confidence: 'certain' });
    within(g!.from, lastSeen);
    within(g!.to, enabledAt);
  });

  it('the backfill hook receives each closed gap once, signed, even after answering 500 for a while', async () => {
    const secret = 'backfill-signing-secret-0123456789';
    const s = (stack = await startHealthStack({ yaml: (axp, hooks) => `${axpYaml(axp, hooks)}hooks:\n  gapClosed:\n    url: ${hooks}/backfill\n    signingSecret: ${secret}\n` }));
    s.receiver.acceptBackfill({ secret });
    await s.app.scheduler.tick();
    s.receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital/shared');
    await s.run(100);
    // The hook's receiver is down when the gaps close.
    s.receiver.break({ kind: 'status', status: 500 }, '/backfill');
    s.receiver.mend('/hooks/axp-digital/shared');
    await s.run(30);
    const closed = (await gapsOf(s)).filter((g) => g.to !== null);
    expect(closed.map((g) => `${g.name}:${g.cause}`).sort()).toEqual(['chat-a:callback-failing', 'chat-a:presumed-disabled', 'chat-b:callback-failing', 'chat-b:presumed-disabled']);
    expect(closed.every((g) => g.hookState === 'pending' && g.hookAttempts >= 1)).toBe(true);
    expect(s.receiver.backfills.size).toBe(0);

    s.receiver.mend('/backfill');
    await s.run(600);
    const after = await gapsOf(s);
    expect(after.filter((g) => g.to !== null).every((g) => g.hookState === 'delivered')).toBe(true);
    // Each gap once, by its id (the receiver answers 401 to a signature that does not verify).
    expect([...s.receiver.backfills.keys()].sort()).toEqual(closed.map((g) => g.id).sort());
    for (const got of s.receiver.backfills.values()) {
      expect(got.deliveries).toBe(1);
      const doc = (typeof got.body === 'string' ? JSON.parse(got.body) : got.body) as { id: string; cause: string; from: string; to: string; provider: string };
      const row = closed.find((g) => g.id === doc.id)!;
      expect(doc).toMatchObject({ provider: 'digital', cause: row.cause, from: row.from.toISOString(), to: row.to!.toISOString() });
    }
  });
});
