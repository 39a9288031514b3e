import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { query } from '../fixtures/db.js';
import { startStack, type Stack } from '../fixtures/stack.js';

/**
 * A process that dies in the middle of a provider call: the provider commits the change,
 * the answer never comes back, nothing is recorded but the journalled intent. A new
 * process on the same database (a restart) must end with exactly one ACTIVE subscription
 * per declared name. (The chaos suite does the same with real SIGKILLs.)
 */
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Runs a pass and "kills" it once the provider has handled the faulted call. */
async function crashDuring(s: Stack, fault: { method: string; path: string }): Promise<void> {
  s.sandbox.addFault({ ...fault, delayAfterMs: 3000 });
  const abort = new AbortController();
  const pass = s.app.reconciler.pass('infinity', { signal: abort.signal }).catch(() => undefined);
  while (s.sandbox.server.faults.length > 0) await sleep(10);
  await sleep(100); // the provider has committed the change by now
  abort.abort(new Error('killed'));
  await pass;
}

const openIntents = async (s: Stack) =>
  (await query<{ n: string }>(s.dbUrl, `SELECT count(*) AS n FROM history h WHERE phase = 'intent' AND NOT EXISTS (SELECT 1 FROM history o WHERE o."actionId" = h."actionId" AND o.phase <> 'intent')`))[0]!.n;

describe('crash windows', () => {
  it.each([
    { name: 'after the create, before recording it', setup: async (_s: Stack) => {}, fault: { method: 'POST', path: '/api/events/v1/subscriptions' } },
    {
      name: 'after re-creating a lost subscription, before recording it',
      setup: async (s: Stack) => {
        await s.app.reconciler.pass('infinity');
        s.sandbox.tenants.get('client-a')!.clear();
      },
      fault: { method: 'POST', path: '/api/events/v1/subscriptions' },
    },
    {
      name: 'after the renewal, before recording it',
      setup: async (s: Stack) => {
        await s.app.reconciler.pass('infinity');
        s.clock.advance(50);
      },
      fault: { method: 'POST', path: ':renew' },
    },
    {
      name: 'after reactivating an INACTIVE subscription, before recording it',
      setup: async (s: Stack) => {
        await s.app.reconciler.pass('infinity');
        s.clock.advance(70); // expired while the daemon was away: INACTIVE
      },
      fault: { method: 'POST', path: ':renew' },
    },
    {
      name: 'after patching drift back, before recording it',
      setup: async (s: Stack) => {
        await s.app.reconciler.pass('infinity');
        for (const sub of s.sandbox.tenants.get('client-a')!.values()) sub.events = ['Agent.Ready'];
      },
      fault: { method: 'PATCH', path: '/api/events/v1/subscriptions/' },
    },
  ])('$name: one subscription per name after a restart, none lost', async ({ setup, fault }) => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await setup(stack);
    await crashDuring(stack, fault);
    // The journal shows the call that never got its outcome.
    expect(Number(await openIntents(stack))).toBeGreaterThanOrEqual(1);

    const restarted = await stack.restart();
    for (let i = 0; i < 3; i++) {
      await restarted.reconciler.pass('infinity');
      stack.clock.advance(5);
    }
    const subs = stack.sandbox.subscriptions('client-a');
    expect(subs).toHaveLength(1);
    expect(subs[0]!.status).toBe('ACTIVE');
    expect(subs[0]!.events).toEqual(['ALL']);
    const [row] = await restarted.store.listSubscriptions('infinity');
    expect(row!.remoteId).toBe(subs[0]!.subscriptionId);
  });
});

describe('a listing that fails when a renewal is due', () => {
  it('renews by the recorded id instead of letting the subscription expire; a day of Retry-After postpones nothing past expiry', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }, { name: 'b' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(45); // both renewals due (60 s lifetime, a third before expiry)
    // The listing fails; a GET by id answers, and shows the recorded expiry is current.
    stack.sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions$', status: 500, retryAfterSeconds: 86400, count: 10 });
    const renews = stack.sandbox.server.count('renew');
    const r = await stack.app.reconciler.pass('infinity', { full: true });
    expect(r.error).toMatch(/HTTP 500/);
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`).sort()).toEqual(['a:renew:succeeded', 'b:renew:succeeded']);
    expect(stack.sandbox.server.count('renew') - renews).toBe(2);
    for (const row of await stack.app.store.listSubscriptions('infinity')) {
      // Renewed: next look at the new renewal time, well before the new expiry.
      expect(row.nextCheckAt.getTime()).toBeLessThan(row.expiresAt!.getTime());
      expect(row.expiresAt!.getTime()).toBeGreaterThan(stack.clock.now().getTime() + 50_000);
    }
  });

  it('when neither the listing nor a GET answers, renews blind only in the second half of the renewal window', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(45); // due: 15 s left of a 20 s window
    stack.sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions', status: 500, count: 100 });
    const renews = stack.sandbox.server.count('renew');
    const first = await stack.app.reconciler.pass('infinity', { full: true });
    expect(first.error).toMatch(/HTTP 500/);
    expect(first.actions).toEqual([]);
    const [row] = await stack.app.store.listSubscriptions('infinity');
    // Postponed, but to a look well before expiry.
    expect(row!.nextCheckAt.getTime()).toBeLessThanOrEqual(row!.expiresAt!.getTime() - 5_000);
    stack.clock.advance(7); // 8 s left: the second half of the window
    const second = await stack.app.reconciler.pass('infinity', { full: true });
    expect(second.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['a:renew:succeeded']);
    expect(stack.sandbox.server.count('renew') - renews).toBe(1);
  });

  it('a read by id that hangs holds up no other subscription: each is read and renewed on its own', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }, { name: 'b' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(45); // both due: 15 s left of a 20 s window
    const rows = new Map((await stack.app.store.listSubscriptions('infinity')).map((r) => [r.name, r]));
    stack.sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions$', status: 500, count: 10 });
    // The provider sits on the read of a's subscription for 20 s.
    stack.sandbox.addFault({ method: 'GET', path: rows.get('a')!.remoteId!, delayMs: 20_000 });
    const renews = stack.sandbox.server.count('renew');
    const pass = stack.app.reconciler.pass('infinity', { full: true });
    let ended = false;
    void pass.finally(() => (ended = true));
    while (stack.sandbox.server.count('renew') === renews) await sleep(20);
    // b is renewed while a's read still waits: the pass cannot end before that read has.
    expect(ended).toBe(false);
    const r = await pass;
    // a's read was given up (a third of the 15 s left): with half of its window still ahead it waits for the next look.
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['b:renew:succeeded']);
    expect(stack.sandbox.server.count('renew') - renews).toBe(1);
  });

  it('a listing that hangs while a renewal is due is given up after a third of the time left; the renewal is made by the recorded id', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(57); // 3 s left: the listing may take a second
    stack.sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions$', delayMs: 20_000, count: 1 });
    const renews = stack.sandbox.server.count('renew');
    const r = await stack.app.reconciler.pass('infinity', { full: true });
    expect(r.error).toMatch(/listing given up after 1000 ms/);
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['a:renew:succeeded']);
    expect(stack.sandbox.server.count('renew') - renews).toBe(1);
    const [row] = await stack.app.store.listSubscriptions('infinity');
    expect(row!.expiresAt!.getTime()).toBeGreaterThan(stack.clock.now().getTime() + 50_000);
  });

  it('a listing always slower than its budget is given up once, not twice in a row: a lost subscription is still recreated', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(57); // 3 s left: a listing may take a second
    stack.sandbox.tenants.get('client-a')!.clear(); // lost at the provider: a read by id finds nothing to renew
    stack.sandbox.addFault({ method: 'GET', path: '/api/events/v1/subscriptions$', delayMs: 1500, count: 2 });
    const first = await stack.app.reconciler.pass('infinity', { full: true });
    expect(first.error).toMatch(/listing given up/);
    expect(first.actions).toEqual([]);
    // The row is still due by its recorded expiry; the next listing runs to its end all the same.
    const second = await stack.app.reconciler.pass('infinity', { full: true });
    expect(second.error).toBeUndefined();
    expect(second.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['a:recreate:succeeded']);
    expect(stack.sandbox.subscriptions('client-a').map((x) => x.status)).toEqual(['ACTIVE']);
  });

  it('a renewal that fails early in its window is tried again within the same pass, not left to the next one', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await stack.app.reconciler.pass('infinity');
    stack.clock.advance(45); // 15 s left of a 20 s window: its first half
    stack.sandbox.addFault({ method: 'POST', path: ':renew', status: 500, count: 1 });
    const renews = stack.sandbox.server.count('renew');
    const r = await stack.app.reconciler.pass('infinity');
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`)).toEqual(['a:renew:succeeded']);
    // The faulted try never reached the provider's handler; the second renewed it.
    expect(stack.sandbox.server.count('renew') - renews).toBe(1);
    const [row] = await stack.app.store.listSubscriptions('infinity');
    expect(row!.expiresAt!.getTime()).toBeGreaterThan(stack.clock.now().getTime() + 50_000);
    // Both tries are in the journal: the failed one and the one that succeeded.
    const tries = (await stack.app.store.history({ name: 'a' })).filter((h) => h.action === 'renew' && h.phase !== 'intent').map((h) => h.phase);
    expect(tries.sort()).toEqual(['failed', 'succeeded']);
  });
});

describe('renewals between listings', () => {
  it('a renewal due soon after a listing is made by the recorded id without listing again; the periodic pass lists', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }, { name: 'b' }] });
    await stack.app.reconciler.pass('infinity');
    const lists = stack.sandbox.server.count('list');
    stack.clock.advance(45); // both due, 45 s after the listing (reconcileEvery 60 s)
    const r = await stack.app.reconciler.pass('infinity');
    expect(r.renewalsOnly).toBe(true);
    expect(r.actions.map((x) => `${x.name}:${x.action}:${x.outcome}`).sort()).toEqual(['a:renew:succeeded', 'b:renew:succeeded']);
    expect(stack.sandbox.server.count('list')).toBe(lists);
    // The next renewals come 86 s after the listing, past reconcileEvery: listed again first.
    stack.clock.advance(41);
    const later = await stack.app.reconciler.pass('infinity');
    expect(later.renewalsOnly).toBeUndefined();
    expect(later.actions.filter((x) => x.action === 'renew')).toHaveLength(2);
    expect(stack.sandbox.server.count('list')).toBe(lists + 1);
    // A forced pass (a reload, a callback's health changed) lists whatever is due.
    await stack.app.reconciler.pass('infinity', { full: true });
    expect(stack.sandbox.server.count('list')).toBe(lists + 2);
  });

  it('a replica that has not held the account since its last listing lists first', async () => {
    stack = await startStack({ lifetime: 60, subs: [{ name: 'a' }] });
    await stack.app.reconciler.pass('infinity');
    const restarted = await stack.restart();
    const lists = stack.sandbox.server.count('list');
    await restarted.reconciler.pass('infinity');
    stack.clock.advance(45);
    // The restarted replica listed once (its first pass); the renewal then goes by id.
    const r = await restarted.reconciler.pass('infinity');
    expect(stack.sandbox.server.count('list')).toBe(lists + 1);
    expect(r.renewalsOnly).toBe(true);
  });
});
