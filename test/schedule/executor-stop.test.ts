import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Executor } from '../../src/reconcile/executor.js';

describe('Executor, a pass stopped with actions still queued', () => {
  it('ends (rejects) instead of waiting forever for the queued ones', async () => {
    const names = ['s1', 's2', 's3', 's4', 's5'];
    let creates = 0;
    const store = {
      async insertSubscription(r: object) {
        return { ...r, version: 1, failureCount: 0, expiresAt: null, lifetimeSeconds: null, remoteId: null };
      },
      async appendHistory() {},
      async updateSubscription() {
        throw new Error('database unreachable');
      },
    };
    const provider = {
      kind: 'dixa',
      account: 'acc',
      capabilities: { renew: false, update: true, reenable: true },
      create: async () => {
        creates++;
        await sleep(5);
        return { remoteId: `r-${creates}`, status: 'ACTIVE', spec: {}, fingerprint: 'f', matchKey: 'm' };
      },
    };
    const deps = {
      store,
      clock: { now: () => new Date() },
      logger: { info() {}, warn() {}, error() {}, debug() {} },
      metrics: { recordAction() {}, providerErrors: { inc() {} } },
    };
    const desired = names.map((name) => ({ name, provider: 'acc', kind: 'dixa', hash: 'h', spec: {}, fingerprint: 'f', matchKey: 'm' }));
    const result = { actions: names.map((name) => ({ provider: 'acc', name, action: 'create', reason: 'missing', message: 'm' })), nextCheck: new Map(), orphans: [] };
    const run = new Executor(deps as never, provider as never, desired as never, [], [], result as never, 60, undefined, 2).run();
    const outcome = await Promise.race([run.then(() => 'resolved', (e: Error) => e.message), sleep(2000).then(() => 'still running')]);
    expect(outcome).toBe('database unreachable');
    // Two ran side by side and failed; the three still queued never called the provider.
    expect(creates).toBe(2);
  });
});
