import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SandboxSubscription } from '../../src/sandbox/infinity.js';
import { infinityYaml, startStack, type Stack } from '../fixtures/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const tenant = (s: Stack) => s.sandbox.tenants.get('client-a') ?? new Map<string, SandboxSubscription>();
const summary = (r: { actions: { name: string; action: string; reason: string; outcome: string }[] }) => r.actions.map((a) => `${a.name}:${a.action}:${a.reason}:${a.outcome}`);

/** Puts a subscription straight into the sandbox, as another tool (or an earlier run) would have. */
function seed(s: Stack, sub: Partial<SandboxSubscription> & { endpoint: string }): string {
  const id = randomUUID();
  const now = s.clock.now();
  let t = s.sandbox.tenants.get('client-a');
  if (!t) s.sandbox.tenants.set('client-a', (t = new Map()));
  t.set(id, {
    subscriptionId: id,
    createdAt: now,
    expiresAt: new Date(now.getTime() + 20_000),
    deactivated: false,
    family: sub.family ?? ['AGENT'],
    events: sub.events ?? ['ALL'],
    transport: { type: 'WEBHOOK', method: 'POST', endpoint: sub.endpoint },
  });
  return id;
}

describe('reconcile against the Infinity sandbox, over HTTP, on Postgres', () => {
  it('creates each declared subscription once, then finds nothing to do', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }, { name: 'interactions', family: ['INTERACTION'], events: ['Interaction.Created'] }] });
    const [first] = await stack.app.scheduler.tick();
    expect(summary(first!)).toEqual(['agents:create:missing:succeeded', 'interactions:create:missing:succeeded']);
    expect(tenant(stack).size).toBe(2);
    const again = await stack.app.reconciler.pass('infinity');
    expect(again.actions.map((a) => a.action)).toEqual(['none', 'none']);
    const rows = await stack.app.store.listSubscriptions();
    expect(rows.map((r) => [r.name, r.state, r.owned, r.lifetimeSeconds])).toEqual([
      ['agents', 'active', true, 20],
      ['interactions', 'active', true, 20],
    ]);
    const history = await stack.app.store.history({ name: 'agents' });
    expect(history.map((h) => h.phase).reverse()).toEqual(['intent', 'succeeded']);
  });

  it('adopts an existing matching subscription instead of creating a duplicate', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    const id = seed(stack, { endpoint: 'https://hooks.example.com/agents' });
    const r = await stack.app.reconciler.pass('infinity');
    // Adopted, not renewed: the time it has left (all of its 20 s) stands in for its lifetime.
    expect(summary(r)).toEqual(['agents:adopt:found-existing:succeeded']);
    expect([...tenant(stack).keys()]).toEqual([id]);
    const [row] = await stack.app.store.listSubscriptions();
    expect(row).toMatchObject({ remoteId: id, owned: true, state: 'active', lifetimeSeconds: 20 });
  });

  it('keeps the healthiest of several matches and deletes the rest', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    const stale = seed(stack, { endpoint: 'https://hooks.example.com/agents' });
    tenant(stack).get(stale)!.deactivated = true;
    const good = seed(stack, { endpoint: 'https://hooks.example.com/agents' });
    const r = await stack.app.reconciler.pass('infinity');
    expect(summary(r)).toContain(`agents:delete:duplicate:succeeded`);
    expect([...tenant(stack).keys()]).toEqual([good]);
  });

  it('adopts a subscription created just before a crash, instead of duplicating it', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    // The create reaches the provider, but the process dies before the answer arrives.
    stack.sandbox.addFault({ method: 'POST', path: '/subscriptions', delayAfterMs: 2000 });
    const crash = new AbortController();
    const pass = stack.app.reconciler.pass('infinity', { signal: crash.signal });
    while (tenant(stack).size === 0) await new Promise((r) => setTimeout(r, 20));
    crash.abort(new Error('killed'));
    await expect(pass).rejects.toThrow();
    const [pending] = await stack.app.store.listSubscriptions();
    expect(pending).toMatchObject({ name: 'agents', remoteId: null });
    const journal = await stack.app.store.history({ name: 'agents' });
    expect(journal.map((h) => `${h.action}:${h.phase}`)).toEqual(['create:intent']);

    const restarted = await stack.restart();
    const r = await restarted.reconciler.pass('infinity');
    expect(r.actions.map((a) => a.action)).toEqual(['adopt']);
    expect(tenant(stack).size).toBe(1);
    const [row] = await restarted.store.listSubscriptions();
    expect(row!.remoteId).toBe([...tenant(stack).keys()][0]);
  });

  it('patches drift made at the provider back to the config', async () => {
    stack = await startStack({ subs: [{ name: 'agents', events: ['Agent.LoggedIn', 'Agent.LoggedOut'] }] });
    await stack.app.reconciler.pass('infinity');
    const sub = [...tenant(stack).values()][0]!;
    sub.events = ['Agent.Ready'];
    sub.transport.method = 'PUT';
    const r = await stack.app.reconciler.pass('infinity');
    expect(r.actions).toMatchObject([{ action: 'update', reason: 'drift', outcome: 'succeeded', changes: ['events', 'transport.method'] }]);
    expect(sub.events.sort()).toEqual(['Agent.LoggedIn', 'Agent.LoggedOut']);
    expect(sub.transport.method).toBe('POST');
    expect((await stack.app.reconciler.pass('infinity')).actions.map((a) => a.action)).toEqual(['none']);
  });

  it('patches drift made in the config (a changed family)', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    await stack.app.reconciler.pass('infinity');
    const app2 = await stack.restart(infinityYaml(stack.sandbox.url, [{ name: 'agents', family: ['AGENT', 'QUEUE'] }]));
    const r = await app2.reconciler.pass('infinity');
    expect(summary(r)).toEqual(['agents:update:drift:succeeded']);
    expect([...tenant(stack).values()][0]!.family).toEqual(['AGENT', 'QUEUE']);
  });

  it('keeps a 20-second subscription ACTIVE through at least five renewals', async () => {
    stack = await startStack({ lifetime: 20, subs: [{ name: 'short-lived' }] });
    let renewals = 0;
    for (let second = 0; second <= 120; second++) {
      for (const report of await stack.app.scheduler.tick()) renewals += report.actions.filter((a) => a.action === 'renew' && a.outcome === 'succeeded').length;
      const subs = stack.sandbox.subscriptions('client-a');
      expect(subs.map((s) => s.status), `at t+${second}s`).toEqual(['ACTIVE']);
      stack.clock.advance(1);
    }
    expect(renewals).toBeGreaterThanOrEqual(5);
    expect(stack.sandbox.server.count('create')).toBe(1);
    // renewBefore 33% of 20 s = 6 s: renewals land 6 s before expiry, never later.
    const [row] = await stack.app.store.listSubscriptions();
    expect(row!.expiresAt!.getTime() - row!.nextCheckAt.getTime()).toBe(6000);
  });

  it('renews (reactivates) a subscription that went INACTIVE', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(30); // nobody renewed: expired at the provider
    expect(stack.sandbox.subscriptions('client-a')[0]!.status).toBe('INACTIVE');
    const r = await stack.app.reconciler.pass('infinity');
    expect(summary(r)).toEqual(['agents:reactivate:inactive:succeeded']);
    expect(stack.sandbox.subscriptions('client-a')[0]!.status).toBe('ACTIVE');
  });

  it('creates again a subscription the provider lost, linking the new id to the old', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    await stack.app.reconciler.pass('infinity');
    const [before] = await stack.app.store.listSubscriptions();
    tenant(stack).clear();
    const r = await stack.app.reconciler.pass('infinity');
    expect(summary(r)).toEqual(['agents:recreate:lost-at-provider:succeeded']);
    const [after] = await stack.app.store.listSubscriptions();
    expect(after!.remoteId).not.toBe(before!.remoteId);
    expect(after!.previousRemoteId).toBe(before!.remoteId);
    expect([...tenant(stack).keys()]).toEqual([after!.remoteId]);
  });

  it('deletes what it owns once it leaves the config, and only reports orphans', async () => {
    stack = await startStack({ subs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    await stack.app.reconciler.pass('infinity');
    const orphan = seed(stack, { endpoint: 'https://elsewhere.example.com/x' });
    const app2 = await stack.restart(infinityYaml(stack.sandbox.url, [{ name: 'a' }, { name: 'b' }]));
    const r = await app2.reconciler.pass('infinity');
    expect(summary(r).filter((s) => !s.includes(':none:'))).toEqual(['c:delete:removed-from-config:succeeded']);
    expect(r.orphans).toEqual([{ provider: 'infinity', remoteId: orphan, matchKey: 'https://elsewhere.example.com/x', deleted: false }]);
    expect(tenant(stack).size).toBe(3); // a, b and the orphan
    const rows = await app2.store.listSubscriptions();
    expect(rows.find((x) => x.name === 'c')).toMatchObject({ state: 'deleted', remoteId: null });
  });

  it('refuses to delete more than half of what it owns at once, unless confirmed', async () => {
    stack = await startStack({ subs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }] });
    await stack.app.reconciler.pass('infinity');
    const truncated = infinityYaml(stack.sandbox.url, [{ name: 'a' }]);
    const app2 = await stack.restart(truncated);
    const refused = await app2.reconciler.pass('infinity');
    expect(refused.actions.filter((a) => a.reason === 'mass-delete-refused').map((a) => a.name)).toEqual(['b', 'c', 'd']);
    expect(refused.actions.find((a) => a.name === 'b')!.message).toMatch(/refusing to delete 3 of the 4 .* --allow-mass-delete/);
    expect(tenant(stack).size).toBe(4);
    const confirmed = await app2.reconciler.pass('infinity', { allowMassDelete: true });
    expect(confirmed.actions.filter((a) => a.action === 'delete').length).toBe(3);
    expect(tenant(stack).size).toBe(1);
  });

  it('a reload that renews later moves each next check once; the pass after it writes nothing', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }, { name: 'b' }] });
    await stack.app.reconciler.pass('infinity');
    const before = new Map((await stack.app.store.listSubscriptions()).map((r) => [r.name, r]));
    // renewBefore 33% -> 10%: each renewal comes later. Left alone, each row would come due
    // at its old time for nothing, and make the account pass (and list) once for each.
    const app = await stack.restart(infinityYaml(stack.sandbox.url, [{ name: 'a' }, { name: 'b' }], { renewBefore: '10%' }));
    await app.reconciler.pass('infinity', { full: true });
    const moved = new Map((await app.store.listSubscriptions()).map((r) => [r.name, r]));
    for (const [name, row] of moved) {
      const was = before.get(name)!;
      expect(row.nextCheckAt.getTime()).toBeGreaterThan(was.nextCheckAt.getTime());
      // 10% of a 60 s lifetime: the renewal is due no earlier than 6 s before expiry, spread or not.
      expect(row.expiresAt!.getTime() - row.nextCheckAt.getTime()).toBeLessThanOrEqual(was.expiresAt!.getTime() - was.nextCheckAt.getTime());
      expect(row.version).toBe(was.version + 1);
    }
    await app.reconciler.pass('infinity', { full: true });
    for (const row of await app.store.listSubscriptions()) expect(row.version).toBe(moved.get(row.name)!.version);
  });

  it('backs off after a failed renewal and still retries before expiry', async () => {
    stack = await startStack({ lifetime: 20, subs: [{ name: 'agents' }], rand: () => 1 });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(14); // renewal due at 14 s (expiry 20 s, renewBefore 6 s)
    stack.sandbox.addFault({ method: 'POST', path: ':renew', status: 503, count: 3 });
    const failed = await stack.app.reconciler.pass('infinity');
    expect(summary(failed)).toEqual(['agents:renew:renewal-due:failed']);
    const [row] = await stack.app.store.listSubscriptions();
    // Tried three times within the pass (each next try was due within 5 s), all three refused.
    expect(row).toMatchObject({ state: 'failing', failureCount: 3, lastErrorCode: 'PROVIDER_SERVER_ERROR' });
    expect(stack.sandbox.server.faults).toHaveLength(0);
    // Full jitter drew its maximum (rand = 1), capped at a third of the time left: the retry lands before expiry.
    expect(row!.nextCheckAt.getTime()).toBeLessThan(row!.expiresAt!.getTime());
    let renewedAt: number | undefined;
    for (let s = 0; s < 6 && renewedAt === undefined; s++) {
      for (const rep of await stack.app.scheduler.tick()) if (rep.actions.some((a) => a.action === 'renew' && a.outcome === 'succeeded')) renewedAt = stack.clock.now().getTime();
      stack.clock.advance(1);
    }
    expect(renewedAt).toBeDefined();
    expect(renewedAt!).toBeLessThan(row!.expiresAt!.getTime());
    expect(stack.sandbox.subscriptions('client-a')[0]!.status).toBe('ACTIVE');
  });

  it('records a rejected spec as terminal and does not retry it until the config changes', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }] });
    stack.sandbox.addFault({ method: 'POST', path: '/subscriptions', status: 400 });
    const r = await stack.app.reconciler.pass('infinity');
    expect(r.actions[0]).toMatchObject({ action: 'create', outcome: 'failed', errorCode: 'PROVIDER_BAD_REQUEST' });
    const again = await stack.app.reconciler.pass('infinity');
    expect(summary(again)).toEqual(['agents:none:rejected-until-config-changes:skipped']);
    const app2 = await stack.restart(infinityYaml(stack.sandbox.url, [{ name: 'agents', events: ['Agent.Ready'] }]));
    expect(summary(await app2.reconciler.pass('infinity'))).toEqual(['agents:create:missing:succeeded']);
  });
});
