import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PassReport, Reconciler } from '../../src/reconcile/reconciler.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import type { Store } from '../../src/store/types.js';

/**
 * The scheduler's own arithmetic, over a stand-in reconciler whose passes take a set time:
 * which passes start, how many at once, and when the ones that waited for a slot start.
 */
function fixture(accounts: string[], passMs: number) {
  let running = 0;
  let most = 0;
  const ended: string[] = [];
  const reconciler = {
    accounts,
    paced: () => false,
    mayOnlyRenew: () => false,
    async pass(a: string): Promise<PassReport> {
      running++;
      most = Math.max(most, running);
      await sleep(passMs);
      running--;
      ended.push(a);
      return { provider: a, actions: [], orphans: [] };
    },
    async heartbeat() {},
    async join() {
      return undefined;
    },
  } as unknown as Reconciler;
  const store = {
    async dueProviders() {
      return [];
    },
    async ping() {},
    async markDue() {},
    async pruneHistory() {
      return 0;
    },
  } as unknown as Store;
  return { reconciler, store, ended, most: () => most };
}

describe('scheduler', () => {
  it('one wake-up runs every due account, at most `concurrency` at once', async () => {
    const f = fixture(['a', 'b', 'c', 'd', 'e', 'f', 'g'], 20);
    const s = new Scheduler({ reconciler: f.reconciler, store: f.store, clock: systemClock, logger: silentLogger, reconcileEverySeconds: 60, concurrency: 2 });
    const reports = await s.tick();
    expect(reports.map((r) => r.provider).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(f.most()).toBe(2);
    expect(s.ready).toBe(true);
  });

  it('a pass that ends starts the next waiting one at once, not at the next wake-up', async () => {
    const f = fixture(['a', 'b', 'c', 'd', 'e', 'f'], 100);
    // Wake-ups once an hour: only the first one, at start, happens during the test.
    const s = new Scheduler({ reconciler: f.reconciler, store: f.store, clock: systemClock, logger: silentLogger, reconcileEverySeconds: 3600, concurrency: 2, wakeEvery: '0 0 * * * *' });
    s.start();
    try {
      // Three waves of 100 ms; a wave per wake-up would need an hour.
      for (let i = 0; i < 100 && f.ended.length < 6; i++) await sleep(50);
      expect(f.ended.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(f.most()).toBe(2);
    } finally {
      await s.stop(100);
    }
  });
});

describe('scheduler, order of due accounts', () => {
  it('accounts never looked at go first, then made-due accounts and overdue rows, by since when each is due', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const t0 = clock.now().getTime();
    const f = fixture(['a', 'b', 'late', 'later', 'new'], 5);
    const store = {
      ...f.store,
      dueProviders: async () => [
        { provider: 'later', since: new Date(t0 - 60_000) },
        { provider: 'late', since: new Date(t0 + 30_000) },
      ],
    } as unknown as Store;
    const s = new Scheduler({ reconciler: f.reconciler, store, clock, logger: silentLogger, reconcileEverySeconds: 3600, concurrency: 1 });
    (f.reconciler as { accounts: string[] }).accounts = ['a', 'b', 'late', 'later'];
    await s.tick();
    f.ended.length = 0;
    // A reload adds an account and makes b due; a rows have been due since before the
    // reload, b rows only came due after it.
    (f.reconciler as { accounts: string[] }).accounts = ['a', 'b', 'late', 'later', 'new'];
    s.force(['b']);
    clock.advance(40);
    await s.tick();
    expect(f.ended).toEqual(['new', 'later', 'b', 'late']);
  });

  it('rows that keep coming due do not starve an account made due before them', async () => {
    // renewBefore 99%: each renewed row is due again a second later.
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const f = fixture(['a', 'b', 'c'], 5);
    const dueSince = new Map<string, number>();
    const store = {
      ...f.store,
      dueProviders: async () => [...dueSince].sort((x, y) => x[1] - y[1]).map(([provider, t]) => ({ provider, since: new Date(t) })),
    } as unknown as Store;
    const reconciler = {
      ...f.reconciler,
      accounts: ['a', 'b', 'c'],
      paced: () => false,
      async pass(a: string, opts: unknown) {
        const r = await (f.reconciler as unknown as { pass(a: string, o: unknown): Promise<PassReport> }).pass(a, opts);
        dueSince.set(a, clock.now().getTime() + 1000);
        return r;
      },
    } as unknown as Reconciler;
    const s = new Scheduler({ reconciler, store, clock, logger: silentLogger, reconcileEverySeconds: 3600, concurrency: 1 });
    await s.tick();
    s.force(['c']);
    f.ended.length = 0;
    for (let i = 0; i < 3; i++) {
      clock.advance(2);
      await s.tick();
    }
    // c was made due before a and b came due again: its pass comes first, every time after.
    expect(f.ended[0]).toBe('c');
  });
});

describe('scheduler, paced accounts', () => {
  it('a pass over an account whose adapter paces its requests (Dixa) takes no slot: the other accounts run meanwhile, at most `concurrency` at once', async () => {
    let running = 0;
    let most = 0;
    const ended: string[] = [];
    const reconciler = {
      accounts: ['paced-1', 'paced-2', 'a', 'b', 'c', 'd'],
      paced: (a: string) => a.startsWith('paced'),
      mayOnlyRenew: () => false,
      async pass(a: string): Promise<PassReport> {
        if (a.startsWith('paced')) await sleep(1200);
        else {
          running++;
          most = Math.max(most, running);
          await sleep(20);
          running--;
        }
        ended.push(a);
        return { provider: a, actions: [], orphans: [] };
      },
      async heartbeat() {},
      async join() {
        return undefined;
      },
    } as unknown as Reconciler;
    const { store } = fixture([], 0);
    const s = new Scheduler({ reconciler, store, clock: systemClock, logger: silentLogger, reconcileEverySeconds: 60, concurrency: 1 });
    const reports = await s.tick();
    expect(reports).toHaveLength(6);
    // Holding the only slot, the paced accounts would end first, one after the other.
    expect(ended).toEqual(['a', 'b', 'c', 'd', 'paced-1', 'paced-2']);
    expect(most).toBe(1);
  });
});

describe('scheduler, passes that only renew', () => {
  it('with every slot taken, an account this replica listed moments ago is renewed without a slot; one that turns out to need a listing waits for a slot', async () => {
    const started: string[] = [];
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const reconciler = {
      accounts: ['big-1', 'big-2', 'renews', 'must-list'],
      paced: () => false,
      // Listed moments ago: a pass over it would only renew (as far as the replica remembers).
      mayOnlyRenew: (a: string) => a === 'renews' || a === 'must-list',
      async pass(a: string, opts: { onlyRenewals?: boolean }): Promise<PassReport> {
        started.push(`${a}${opts.onlyRenewals ? ' (no slot)' : ''}`);
        // Something other than a renewal is due in must-list: it has to be listed after all.
        if (opts.onlyRenewals && a === 'must-list') return { provider: a, actions: [], orphans: [], skipped: true, needsListing: true };
        if (!opts.onlyRenewals) {
          running++;
          most = Math.max(most, running);
        }
        await sleep(a.startsWith('big') ? 300 : 20);
        if (!opts.onlyRenewals) running--;
        log.push(a);
        return { provider: a, actions: [], orphans: [], ...(opts.onlyRenewals ? { renewalsOnly: true } : {}) };
      },
      async heartbeat() {},
      async join() {
        return undefined;
      },
    } as unknown as Reconciler;
    // Rows of renews and must-list come due after big-1 and big-2 were made due.
    let rowsDue: { provider: string; since: Date }[] = [];
    const store = { ...fixture([], 0).store, dueProviders: async () => rowsDue } as unknown as Store;
    const s = new Scheduler({ reconciler, store, clock: systemClock, logger: silentLogger, reconcileEverySeconds: 60, concurrency: 1 });
    // Every account's first pass, one at a time (never passed: none goes without a slot).
    await s.tick();
    expect(started).toEqual(['big-1', 'big-2', 'renews', 'must-list']);
    started.length = 0;
    log.length = 0;
    s.force(['big-1', 'big-2']);
    rowsDue = [{ provider: 'renews', since: new Date(Date.now() + 1000) }, { provider: 'must-list', since: new Date(Date.now() + 1000) }];
    await s.tick();
    // big-1 took the only slot; renews went at once without one (one such pass at a time, as
    // many as there are slots) and was done long before big-1; then must-list without one.
    expect(started.slice(0, 3)).toEqual(['big-1', 'renews (no slot)', 'must-list (no slot)']);
    expect(log.indexOf('renews')).toBeLessThan(log.indexOf('big-1'));
    // must-list had to be listed: it waited for a slot, first in line (not tried without one again).
    expect(started.slice(3)).toEqual(['must-list', 'big-2']);
    expect(most).toBe(1);
  });
});

describe('scheduler, stopping', () => {
  it('starts none of the passes still waiting for a slot once stopping, and waits only for those running', async () => {
    const f = fixture(['a', 'b', 'c', 'd', 'e', 'f'], 150);
    const s = new Scheduler({ reconciler: f.reconciler, store: f.store, clock: systemClock, logger: silentLogger, reconcileEverySeconds: 3600, concurrency: 2, wakeEvery: '0 0 * * * *' });
    s.start();
    await sleep(50); // a and b run; the other four wait for a slot
    await s.stop(5000);
    expect(f.ended.sort()).toEqual(['a', 'b']);
    await sleep(400);
    expect(f.ended.sort()).toEqual(['a', 'b']);
  });
});
