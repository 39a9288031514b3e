import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { statusDocument } from '../../src/server/status.js';
import { query } from '../fixtures/db.js';
import { infinityYaml, startStack, type Stack } from '../fixtures/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

// One action at a time, so that A has a next write to refuse after losing its lease.
const withTtl = (url: string) => infinityYaml(url, [{ name: 'a' }, { name: 'b' }]).replace('defaults:\n', 'defaults:\n  leaseTtl: 5s\n  actionConcurrency: 1\n');

describe('fencing between replicas', () => {
  it('a replica that lost its lease mid-pass (paused past it, then resumed) makes no further provider write', async () => {
    stack = await startStack({ lifetime: 60, yaml: withTtl });
    const a = stack.app;
    await a.reconciler.pass('infinity');
    expect(stack.sandbox.subscriptions('client-a')).toHaveLength(2);
    stack.clock.advance(50); // both renewals due
    const renewsBefore = stack.sandbox.server.count('renew');

    // Replica A starts renewing; its first renewal is slow at the provider.
    stack.sandbox.addFault({ method: 'POST', path: ':renew', delayMs: 1500 });
    const passA = a.reconciler.pass('infinity');
    while (stack.sandbox.server.faults.length > 0) await sleep(20);

    // Meanwhile A's lease runs out (as for a process stopped with SIGSTOP) and replica B takes the account over.
    await query(stack.dbUrl, `UPDATE account_lease SET "expiresAt" = now() - interval '1 second'`);
    const b = await stack.restart(undefined, { holder: 'replica-2' });
    const reportB = await b.reconciler.pass('infinity');
    expect(reportB.skipped).toBeFalsy();
    expect(reportB.actions.filter((x) => x.action === 'renew' && x.outcome === 'succeeded')).toHaveLength(2);

    // A resumes: its in-flight call completes, but it proves the lease before its next write, and stops.
    const reportA = await passA;
    expect(reportA.fenced).toBe(true);
    expect(reportA.error).toMatch(/lease on infinity was lost/);
    // B's two renewals and A's single in-flight one: A wrote nothing after losing the lease.
    expect(stack.sandbox.server.count('renew') - renewsBefore).toBe(3);
    expect(stack.sandbox.subscriptions('client-a')).toHaveLength(2);
    const leases = await query<{ holder: string; token: string }>(stack.dbUrl, 'SELECT holder, token FROM account_lease');
    // A kept token 1 over its two passes; B's takeover took the next one.
    expect(leases).toEqual([{ holder: 'replica-2', token: '2' }]);
    // While B holds the account, A's next pass is skipped.
    expect((await a.reconciler.pass('infinity')).skipped).toBe(true);
    // Status and /metrics say which replica holds which account.
    const doc = await statusDocument(b.store, stack.clock.now());
    expect(doc.leases).toMatchObject([{ provider: 'infinity', holder: 'replica-2', held: true }]);
    expect(await b.metrics.registry.getSingleMetricAsString('hookwarden_lease_held')).toMatch(/hookwarden_lease_held\{provider="infinity"\} 1/);
    expect(await a.metrics.registry.getSingleMetricAsString('hookwarden_lease_held')).toMatch(/hookwarden_lease_held\{provider="infinity"\} 0/);
  });

  it('a create whose recording was fenced off is adopted by the next pass, never duplicated', async () => {
    stack = await startStack({ yaml: (url) => infinityYaml(url, [{ name: 'a' }]) });
    // The create lands at the provider, but the answer comes back after the lease is gone.
    stack.sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', delayAfterMs: 800 });
    const passA = stack.app.reconciler.pass('infinity');
    await sleep(300);
    await query(stack.dbUrl, `UPDATE subscription SET version = version + 1`);
    await passA;
    const b = await stack.restart(undefined, { holder: 'replica-1' });
    const report = await b.reconciler.pass('infinity');
    expect(report.actions.map((x) => `${x.action}:${x.reason}`)).toContain('adopt:found-existing');
    expect(stack.sandbox.subscriptions('client-a')).toHaveLength(1);
  });
});
