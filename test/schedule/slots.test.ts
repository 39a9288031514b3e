import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { holding, inTask, PassSlot, Slots, withoutSlot } from '../../src/lib/slots.js';
import { Executor } from '../../src/reconcile/executor.js';

describe('Slots', () => {
  it('hands a slot given back to a waiter first (in order), and calls onFree only when none waits', async () => {
    let freed = 0;
    const slots = new Slots(1, () => freed++);
    expect(slots.tryTake()).toBe(true);
    expect(slots.tryTake()).toBe(false);
    const order: number[] = [];
    const w1 = slots.take().then(() => order.push(1));
    const w2 = slots.take().then(() => order.push(2));
    slots.give();
    await w1;
    expect(freed).toBe(0);
    expect(slots.tryTake()).toBe(false);
    slots.give();
    await w2;
    slots.give();
    expect(order).toEqual([1, 2]);
    expect(freed).toBe(1);
    expect(slots.used).toBe(0);
  });

  it('a larger capacity lets waiters in at once; a smaller one lets nothing new in until enough are given back', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const waiter = slots.take();
    slots.resize(2);
    await waiter;
    expect(slots.used).toBe(2);
    slots.resize(1);
    slots.give();
    expect(slots.tryTake()).toBe(false);
    slots.give();
    expect(slots.tryTake()).toBe(true);
  });
});

const gate = () => {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
};

describe('PassSlot', () => {
  it('lets go only while no flow of the pass is at work: tasks count from start to end, waits do not', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
    const [g1, g2, g3] = [gate(), gate(), gate()];
    await holding(slot, async () => {
      // Two tasks side by side; the pass itself then waits for them.
      const t1 = inTask(() => withoutSlot(() => g1.p));
      const t2 = inTask(async () => {
        await withoutSlot(() => g2.p);
        await withoutSlot(() => g3.p);
      });
      const all = withoutSlot(() => Promise.all([t1, t2]));
      await sleep(5);
      // Every flow waits: the slot went, and another pass takes it.
      expect(slots.used).toBe(0);
      expect(slots.tryTake()).toBe(true);
      // t1 is back: it waits for a slot before going on (and ends).
      g1.open();
      await sleep(5);
      let t1Done = false;
      void t1.then(() => (t1Done = true));
      await sleep(5);
      expect(t1Done).toBe(false);
      slots.give();
      await t1;
      // t1 ended, t2 still waits: the pass holds nothing (no tail held while tasks wait).
      expect(slots.used).toBe(0);
      g2.open();
      await sleep(5);
      expect(slots.used).toBe(0);
      g3.open();
      await all;
      // Back in the pass itself: it holds the slot again.
      expect(slots.used).toBe(1);
    });
    slot.close();
    expect(slots.used).toBe(0);
  });

  it('a flow back from a wait goes on holding the slot even when its siblings all went back to waiting meanwhile', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
    const [g1, g2] = [gate(), gate()];
    await holding(slot, async () => {
      let usedWhenBack = -1;
      const t1 = inTask(async () => {
        await withoutSlot(() => g1.p);
        usedWhenBack = slots.used;
      });
      const t2 = inTask(() => withoutSlot(() => g2.p));
      const all = withoutSlot(() => Promise.all([t1, t2]));
      await sleep(5);
      expect(slots.tryTake()).toBe(true); // another pass
      g1.open();
      await sleep(5);
      // t1 waits for a slot; the slot comes back while t2 still waits.
      slots.give();
      await t1;
      expect(usedWhenBack).toBe(1);
      g2.open();
      await all;
    });
    slot.close();
    expect(slots.used).toBe(0);
  });

  it('a pass closed while a flow still waits (for its provider or for a slot) gives its slot back once, and the flow takes none', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
    const g = gate();
    const task = holding(slot, () => withoutSlot(() => g.p));
    expect(slots.used).toBe(0);
    expect(slots.tryTake()).toBe(true); // another pass
    g.open();
    await sleep(5);
    // The flow now waits for a slot; the pass ends (cut short) meanwhile.
    slot.close();
    slot.close();
    slots.give();
    await task;
    expect(slots.used).toBe(0);
    expect(slots.tryTake()).toBe(true);
  });

  it('outside a pass, withoutSlot just waits and inTask just runs', async () => {
    expect(await withoutSlot(async () => 42)).toBe(42);
    expect(await inTask(async () => 43)).toBe(43);
  });
});

describe('Executor, a pass stopped with actions still queued', () => {
  it('ends (rejects) instead of waiting forever for the queued ones, and gives its slot back', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
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
        await withoutSlot(() => sleep(5));
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
    const run = holding(slot, () => new Executor(deps as never, provider as never, desired as never, [], [], result as never, 60, undefined, 2).run()).finally(() => slot.close());
    const outcome = await Promise.race([run.then(() => 'resolved', (e: Error) => e.message), sleep(2000).then(() => 'still running')]);
    expect(outcome).toBe('database unreachable');
    // Two ran side by side and failed; the three still queued never called the provider.
    expect(creates).toBe(2);
    expect(slots.used).toBe(0);
  });
});
